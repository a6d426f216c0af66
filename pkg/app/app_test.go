package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// fakeSettings is a registered section.
type fakeSettings struct {
	Size int `yaml:"size" flag:"size" usage:"size"`
}

func (f *fakeSettings) Validate() error {
	if f.Size < 1 {
		return errors.New("alpha.size: must be at least 1")
	}
	return nil
}

// fake records what the runner did with it.
type fake struct {
	name string
	log  *[]string
	fail bool
}

func (f *fake) Name() string { return f.name }
func (f *fake) Start(context.Context) error {
	if f.fail {
		return errors.New("boom")
	}
	*f.log = append(*f.log, "start "+f.name)
	return nil
}
func (f *fake) Shutdown(context.Context) error { *f.log = append(*f.log, "stop "+f.name); return nil }

func registrations(log *[]string, failing string) []service.Registration {
	reg := func(name string, withConfig bool) service.Registration {
		r := service.Registration{Name: name, New: func(s service.Settings) (service.Service, error) {
			*log = append(*log, "new "+name)
			return &fake{name: name, log: log, fail: name == failing}, nil
		}}
		if withConfig {
			r.Config = func() config.Section { return &fakeSettings{Size: 1} }
			r.Migrations = fstest.MapFS{"migrations/00001_" + name + ".sql": {Data: []byte(
				"-- +goose Up\nCREATE TABLE " + name + "_items (id TEXT);\n-- +goose Down\nDROP TABLE " + name + "_items;\n")}}
		}
		return r
	}
	return []service.Registration{reg("alpha", true), reg("beta", false), reg("gamma", false)}
}

func TestValidateServices(t *testing.T) {
	regs := registrations(new([]string), "")
	tests := []struct {
		name     string
		services []string
		size     int
		want     []string
	}{
		{name: "known subset", services: []string{"gamma", "alpha"}, size: 1},
		{name: "unknown service lists the known ones", services: []string{"alpha", "billing"}, size: 1,
			want: []string{`services: unknown service "billing" (known: alpha, beta, gamma)`}},
		{name: "none", size: 1, want: []string{"services: at least one service is required"}},
		{name: "section and services reported together", services: []string{"delta"}, size: 0,
			want: []string{"alpha.size: must be at least 1", `unknown service "delta"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultServer()
			cfg.DataDir = t.TempDir()
			cfg.Services = tt.services
			AddSections(&cfg, regs)
			config.SectionOf(&cfg, "alpha", func() fakeSettings { return fakeSettings{} }).Size = tt.size
			err := validate(&cfg, regs)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestStartFollowsRegistryOrder: only the named services run, in the
// registry's order whatever order --services gives, each after its
// migrations; Stop runs in reverse.
func TestStartFollowsRegistryOrder(t *testing.T) {
	var log []string
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = []string{"gamma", "alpha"}
	a, err := Start(context.Background(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), registrations(&log, ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Settings.Registered, ","); got != "alpha,beta,gamma" {
		t.Errorf("Registered = %s", got)
	}
	if _, err := a.Settings.Store.DB.Exec("SELECT COUNT(*) FROM alpha_items"); err != nil {
		t.Errorf("alpha's migrations not applied: %v", err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	want := "new alpha,start alpha,new gamma,start gamma,stop gamma,stop alpha"
	if got := strings.Join(log, ","); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestStartStopsWhatStartedOnFailure(t *testing.T) {
	var log []string
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = []string{"alpha", "beta", "gamma"}
	_, err := Start(context.Background(), &cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), registrations(&log, "beta"))
	if err == nil || !strings.Contains(err.Error(), "start beta: boom") {
		t.Fatalf("got %v", err)
	}
	want := "new alpha,start alpha,new beta,stop alpha"
	if got := strings.Join(log, ","); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
