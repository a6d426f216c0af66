package services

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

func TestRegistry(t *testing.T) {
	regs := All()
	names := app.Names(regs)
	// Dependencies first: the gateway routes to every other service.
	if want := []string{"analytics", "anomaly-detector", "generator", "controller", "loadsim", "platform-api"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for _, r := range regs {
		if r.New == nil {
			t.Errorf("%s: no factory", r.Name)
		}
		if r.Migrations != nil {
			if err := database.CheckMigrations(r.Migrations); err != nil {
				t.Errorf("%s migrations break the dialect rule: %v", r.Name, err)
			}
		}
		if r.Config != nil {
			if err := r.Config().Validate(); err != nil {
				t.Errorf("%s: defaults invalid: %v", r.Name, err)
			}
		}
	}
	// Every section binds beside the shared settings (a flag defined twice
	// would panic) and the whole default config is valid.
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = names
	app.AddSections(&cfg, regs)
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	config.Bind(fs, &cfg)
	for _, flag := range []string{"analytics-max-series", "controller-opamp-open", "generator-collector-bin", "loadsim-max-duration", "analytics-otlp-http-addr"} {
		if fs.Lookup(flag) == nil {
			t.Errorf("--%s missing", flag)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

// TestMigrationsApply applies every service's migrations to both dialects.
func TestMigrationsApply(t *testing.T) {
	ctx := context.Background()
	urls := map[string]string{"sqlite": ""}
	if testutil.PostgresReachable() {
		urls["postgres"] = testutil.FreshPostgres(t)
	}
	for dialect, url := range urls {
		t.Run(dialect, func(t *testing.T) {
			st, err := database.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, r := range All() {
				if r.Migrations == nil {
					continue
				}
				applied, err := st.Migrate(ctx, r.Name, r.Migrations)
				if err != nil || len(applied) == 0 {
					t.Errorf("%s: applied %v, %v", r.Name, applied, err)
				}
			}
		})
	}
}

// TestEveryRegistrationIsListed: a project that declares Registration() in
// its top-level package is in All(), and nothing else is, so a service is
// neither forgotten nor run without declaring itself. The folder names the
// service.
func TestEveryRegistrationIsListed(t *testing.T) {
	dirs, err := os.ReadDir("../../../projects")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range dirs {
		if d.IsDir() && declaresRegistration(t, filepath.Join("../../../projects", d.Name())) {
			declared = append(declared, d.Name())
		}
	}
	listed := app.Names(All())
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Fatalf("projects declaring Registration() %v, listed in All() %v", declared, listed)
	}
}

// declaresRegistration reports whether the package in dir has a top-level
// func Registration.
func declaresRegistration(t *testing.T, dir string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "Registration" {
				return true
			}
		}
	}
	return false
}
