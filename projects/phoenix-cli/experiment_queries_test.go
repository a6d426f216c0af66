package phoenixcli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/usage"
)

func TestResolveQuerySources(t *testing.T) {
	dir := "../../examples/experiments"
	data, err := os.ReadFile(filepath.Join(dir, "topk-queries.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := usage.ResolveQuerySources(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Queries map[string]json.RawMessage `json:"queries"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Spec.Queries["sources"]; ok {
		t.Error("sources were sent to the API")
	}
	var exprs []struct{ Expr, Source string }
	if err := json.Unmarshal(doc.Spec.Queries["exprs"], &exprs); err != nil {
		t.Fatal(err)
	}
	// 5 panels + the variable query + 2 rules, the duplicate CPU query once.
	if len(exprs) != 7 {
		t.Fatalf("exprs = %+v", exprs)
	}
	if !strings.Contains(exprs[0].Source, "hosts-dashboard.json") || exprs[len(exprs)-1].Source == "" {
		t.Errorf("sources not kept: %+v", exprs)
	}

	tests := []struct{ name, spec, err string }{
		{"no queries", `{"spec": {}}`, ""},
		{"missing file", `{"spec": {"queries": {"sources": [{"grafana": "nope.json"}]}}}`, "nope.json"},
		{"two kinds", `{"spec": {"queries": {"sources": [{"grafana": "a", "prometheus_rules": "b"}]}}}`, "exactly one"},
	}
	for _, tt := range tests {
		_, err := usage.ResolveQuerySources([]byte(tt.spec), dir)
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
}
