package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// widgets is a project's own section in these tests; it shares the YAML
// section "analytics" with Server's listen addresses to prove a section can
// have two owners without either accepting unknown keys.
type widgets struct {
	Size   int           `yaml:"size" flag:"size" usage:"widgets per box"`
	Every  time.Duration `yaml:"every" flag:"every" usage:"how often"`
	Labels []string      `yaml:"labels" flag:"labels" usage:"labels"`
	Inner  struct {
		Depth int `yaml:"depth" flag:"depth" usage:"depth"`
	} `yaml:"inner" flag:"inner"`
}

func (w *widgets) Validate() error {
	if w.Size < 1 {
		return errors.New("analytics.size: must be at least 1")
	}
	return nil
}

func defaultWidgets() widgets { return widgets{Size: 3, Every: time.Minute} }

func loadSection(t *testing.T, yamlText string, args []string, env map[string]string) (*Server, *widgets, *pflag.FlagSet, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := DefaultServer()
	cfg.DataDir = t.TempDir()
	w := SectionOf(&cfg, "analytics", defaultWidgets)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	b := Bind(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return &cfg, w, fs, err
	}
	path := ""
	if yamlText != "" {
		path = filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Load(path); err != nil {
		return &cfg, w, fs, err
	}
	return &cfg, w, fs, cfg.Validate()
}

func TestSectionSources(t *testing.T) {
	file := "analytics:\n  otlp_http_addr: \":9318\"\n  size: 5\n  every: 10s\n  inner:\n    depth: 2\n"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*Server, *widgets) bool
	}{
		{"file sets shared and own keys of one section", nil, nil, func(c *Server, w *widgets) bool {
			return c.Analytics.OTLPHTTPAddr == ":9318" && w.Size == 5 && w.Every == 10*time.Second && w.Inner.Depth == 2
		}},
		{"env over file", nil, map[string]string{"PHOENIX_ANALYTICS_SIZE": "7", "PHOENIX_ANALYTICS_INNER_DEPTH": "4"},
			func(_ *Server, w *widgets) bool { return w.Size == 7 && w.Inner.Depth == 4 }},
		{"flag over env", []string{"--analytics-size", "9", "--analytics-labels", "a, b"}, map[string]string{"PHOENIX_ANALYTICS_SIZE": "7"},
			func(_ *Server, w *widgets) bool { return w.Size == 9 && len(w.Labels) == 2 && w.Labels[1] == "b" }},
		{"defaults stay where nothing is said", []string{"--analytics-every", "2m"}, nil,
			func(c *Server, w *widgets) bool {
				return w.Every == 2*time.Minute && c.Analytics.OTLPGRPCAddr == ":4317"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w, _, err := loadSection(t, file, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c, w) {
				t.Fatalf("unexpected settings: shared %+v, section %+v", c.Analytics, *w)
			}
		})
	}
}

func TestSectionRejectsAndValidates(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		args []string
		want []string
	}{
		{"unknown key in a shared section", "analytics:\n  size: 2\n  sise: 3\n", nil,
			[]string{"line 3: field sise not found in section analytics"}},
		{"unknown nested key", "analytics:\n  inner:\n    deep: 1\n", nil, []string{"line 3: field deep not found in section analytics.inner"}},
		{"unknown top-level key beside a section", "analytics:\n  size: 2\nloadsim:\n  max: 1\n", nil,
			[]string{"line 3: field loadsim not found in type config.Server"}},
		{"type error and unknown key reported together", "analytics:\n  every: soon\nshutdown:\n  timeot: 1s\n", nil,
			[]string{"line 2", "soon", "line 4: field timeot not found"}},
		{"merge keys are checked too", "analytics:\n  <<: {size: 2, sise: 1}\n", nil, []string{"field sise not found"}},
		{"section validation joins the shared one", "", []string{"--analytics-size", "0", "--log-format", "xml"},
			[]string{"analytics.size: must be at least 1", "log.format"}},
		{"bad env value names the variable", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				_, _, _, err := loadSection(t, "", nil, map[string]string{"PHOENIX_ANALYTICS_EVERY": "forever"})
				if err == nil || !strings.Contains(err.Error(), "PHOENIX_ANALYTICS_EVERY") {
					t.Fatalf("got %v", err)
				}
				return
			}
			_, _, _, err := loadSection(t, tt.yaml, tt.args, nil)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, frag := range tt.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not mention %q", err, frag)
				}
			}
		})
	}
}

func TestSectionFlagsInHelp(t *testing.T) {
	_, _, fs, err := loadSection(t, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"analytics-size", "analytics-every", "analytics-inner-depth", "analytics-otlp-grpc-addr", "data-dir"} {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("flag --%s missing", name)
			continue
		}
		env := "PHOENIX_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !strings.Contains(f.Usage, env) {
			t.Errorf("--%s usage %q does not name %s", name, f.Usage, env)
		}
	}
	if got := fs.Lookup("analytics-size").DefValue; got != "3" {
		t.Errorf("--analytics-size default shown as %q, want 3", got)
	}
}

func TestSectionOfRegistersOnce(t *testing.T) {
	cfg := DefaultServer()
	a := SectionOf(&cfg, "analytics", defaultWidgets)
	a.Size = 42
	if b := SectionOf(&cfg, "analytics", defaultWidgets); b != a || b.Size != 42 {
		t.Fatalf("second lookup returned a different section: %+v", b)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second owner of a section was accepted")
		}
	}()
	cfg.AddSection("analytics", &widgets{})
}
