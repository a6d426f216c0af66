// Package architecture checks the repository's structural rules: projects
// never import one another; they share only pkg/ and talk over NATS, OTLP,
// OpAMP or REST; pkg/ never imports a project (only the composition root,
// cmd/, knows them all).
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
// imports modulePath/projects/B with B != A, then every file under root/pkg
// that imports a project (reported as project "pkg", path from root). Test
// files count too: a test that reaches into another project couples them
// just the same.
func Check(root, modulePath string) ([]Violation, error) {
	prefix := modulePath + "/projects/"
	out, err := walk(filepath.Join(root, "projects"), prefix, func(rel string) (string, string) {
		return strings.Split(rel, "/")[0], rel
	})
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "pkg")); err == nil {
		shared, err := walk(filepath.Join(root, "pkg"), prefix, func(rel string) (string, string) { return "pkg", "pkg/" + rel })
		if err != nil {
			return nil, err
		}
		out = append(out, shared...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// walk parses every Go file under dir and reports its imports of prefix
// that owner (given the file's slash path relative to dir) does not own.
// owner returns the importing file's project and the path to report.
func walk(dir, prefix string, owner func(rel string) (project, file string)) ([]Violation, error) {
	var out []Violation
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != dir && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		project, file := owner(filepath.ToSlash(rel))
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
				out = append(out, Violation{File: file, Project: project, Imports: p})
			}
		}
		return nil
	})
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
