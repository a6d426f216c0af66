package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, file string, args []string, env map[string]string) (Server, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg := DefaultServer()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	b := Bind(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if err := b.Load(file); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestDefaultsAreValid(t *testing.T) {
	cfg := DefaultServer()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if cfg.API.Addr != ":8080" || cfg.Analytics.OTLPGRPCAddr != ":4317" || cfg.Analytics.OTLPHTTPAddr != ":4318" {
		t.Fatalf("default ports differ from ARCHITECTURE.md: %+v", cfg)
	}
}

// TestBadConfigFiles: every testdata/*.bad.yaml must fail, naming each problem.
func TestBadConfigFiles(t *testing.T) {
	want := map[string][]string{
		"unknown-key.bad.yaml":  {"field databse_url not found"},
		"bad-urls.bad.yaml":     {"database_url: malformed URL", "nats_url: malformed URL"},
		"bad-values.bad.yaml":   {"log.format", "log.level", "api.addr", "api.max_body_bytes"},
		"bad-duration.bad.yaml": {"line 2", "soon"},
	}
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) != len(want) {
		t.Fatalf("found %d bad files, have expectations for %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := load(t, f, nil, nil)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, frag := range want[filepath.Base(f)] {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("error %q does not mention %q", err, frag)
				}
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(Server) bool
	}{
		{"file only", nil, nil, func(c Server) bool { return c.API.Addr == ":9090" && c.Log.Format == "json" }},
		{"env over file", nil, map[string]string{"PHOENIX_API_ADDR": ":7070"}, func(c Server) bool { return c.API.Addr == ":7070" }},
		{"flag over env", []string{"--api-addr", ":6060"}, map[string]string{"PHOENIX_API_ADDR": ":7070"},
			func(c Server) bool { return c.API.Addr == ":6060" }},
		{"list flag", []string{"--services", "analytics, loadsim"}, nil,
			func(c Server) bool { return len(c.Services) == 2 && c.Services[1] == "loadsim" }},
		{"duration env", nil, map[string]string{"PHOENIX_SHUTDOWN_TIMEOUT": "3s"},
			func(c Server) bool { return c.Shutdown.Timeout == 3*time.Second }},
		{"bool flag", []string{"--dev"}, nil, func(c Server) bool { return c.Dev }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, "testdata/full.yaml", tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(cfg) {
				t.Fatalf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestBadEnvAndFlags(t *testing.T) {
	_, err := load(t, "", []string{"--shutdown-timeout", "forever"}, map[string]string{"PHOENIX_API_MAX_BODY_BYTES": "lots"})
	if err == nil || !strings.Contains(err.Error(), "--shutdown-timeout") || !strings.Contains(err.Error(), "PHOENIX_API_MAX_BODY_BYTES") {
		t.Fatalf("want both problems reported, got %v", err)
	}
	_, err = load(t, "", []string{"--no-such-flag"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("unknown flag: got %v", err)
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := load(t, filepath.Join(t.TempDir(), "nope.yaml"), nil, nil)
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("want not-exist error, got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

func FuzzLoadYAML(f *testing.F) {
	for _, p := range []string{"testdata/full.yaml", "testdata/bad-values.bad.yaml", "testdata/unknown-key.bad.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultServer()
		SectionOf(&cfg, "analytics", defaultWidgets) // a section sharing a key with Server
		b := Bind(pflag.NewFlagSet("f", pflag.ContinueOnError), &cfg)
		if err := b.Load(path); err == nil {
			_ = cfg.Validate() // must not panic
		}
	})
}
