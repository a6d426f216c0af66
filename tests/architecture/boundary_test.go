package architecture

import (
	"path/filepath"
	"testing"
)

const fixtureModule = "example.com/fixture"

// TestNoCrossProjectImports is the rule itself, over the real tree.
func TestNoCrossProjectImports(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := ModulePath(root)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Check(root, mod)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("forbidden import: %s (projects share code through pkg/; only cmd/ knows every project)", v)
	}
}

// TestCheckerOnFixtures proves the checker fails on a deliberate violation
// and passes on a clean tree, so the rule above cannot pass vacuously.
func TestCheckerOnFixtures(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want []string
	}{
		{name: "clean tree", dir: "testdata/clean"},
		{name: "alpha imports beta", dir: "testdata/violation", want: []string{
			"alpha/internal/x/x.go (project alpha) imports example.com/fixture/projects/beta",
			"alpha/internal/x/x_test.go (project alpha) imports example.com/fixture/projects/beta/internal/x",
			"pkg/shared/shared.go (project pkg) imports example.com/fixture/projects/beta",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := Check(tt.dir, fixtureModule)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(tt.want) {
				t.Fatalf("got %d violations %v, want %d", len(vs), vs, len(tt.want))
			}
			for i, v := range vs {
				if v.String() != tt.want[i] {
					t.Errorf("violation %d = %q, want %q", i, v, tt.want[i])
				}
			}
		})
	}
}
