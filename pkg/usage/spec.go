package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ResolveQuerySources reads the dashboards and rule files a spec names in
// spec.queries.sources (paths relative to the spec file's directory) and
// sends their queries as spec.queries.exprs, each with its source: the
// API takes queries, never client paths. A spec without sources is
// returned unchanged.
func ResolveQuerySources(spec []byte, dir string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, err
	}
	s, _ := doc["spec"].(map[string]any)
	q, _ := s["queries"].(map[string]any)
	srcs, ok := q["sources"].([]any)
	if !ok {
		return spec, nil
	}
	set := NewSet()
	var errs []error
	for i, raw := range srcs {
		src, _ := raw.(map[string]any)
		g, _ := src["grafana"].(string)
		r, _ := src["prometheus_rules"].(string)
		if (g == "") == (r == "") || len(src) != 1 {
			errs = append(errs, fmt.Errorf("spec.queries.sources[%d]: exactly one of grafana or prometheus_rules (a file path)", i))
			continue
		}
		p := g + r
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.queries.sources[%d]: %w", i, err))
			continue
		}
		name := filepath.Base(p)
		if g != "" {
			err = set.AddDashboard(name, data)
		} else {
			err = set.AddRules(name, data)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.queries.sources[%d]: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	exprs, _ := q["exprs"].([]any)
	seen := map[string]bool{}
	for _, e := range exprs {
		if m, ok := e.(map[string]any); ok {
			if x, ok := m["expr"].(string); ok {
				seen[x] = true
			}
		}
	}
	for _, u := range set.Queries {
		if !seen[u.Expr] {
			seen[u.Expr] = true
			exprs = append(exprs, map[string]any{"expr": u.Expr, "source": u.Source})
		}
	}
	q["exprs"] = exprs
	delete(q, "sources")
	return json.Marshal(doc)
}
