// Package architecture checks the repository's structural rules: projects
// never import one another; they share only pkg/ and talk over NATS, OTLP,
// OpAMP or REST.
package architecture

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Violation is one import of project B from inside project A.
type Violation struct {
	File    string
	Project string
	Imports string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (project %s) imports %s", v.File, v.Project, v.Imports)
}

// Check walks root/projects and reports every file under projects/A that
// imports modulePath/projects/B with B != A. Test files count too: a test
// that reaches into another project couples them just the same.
func Check(root, modulePath string) ([]Violation, error) {
	projectsDir := filepath.Join(root, "projects")
	prefix := modulePath + "/projects/"
	var out []Violation
	fset := token.NewFileSet()
	err := filepath.WalkDir(projectsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != projectsDir && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(projectsDir, path)
		project := strings.Split(filepath.ToSlash(rel), "/")[0]
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, prefix) {
				continue
			}
			target := strings.Split(strings.TrimPrefix(p, prefix), "/")[0]
			if target != project {
				out = append(out, Violation{File: filepath.ToSlash(rel), Project: project, Imports: p})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, err
}

// ModulePath reads the module path from root/go.mod.
func ModulePath(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("read go.mod: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(s), nil
		}
	}
	return "", fmt.Errorf("no module line in %s/go.mod", root)
}
