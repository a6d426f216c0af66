package experiment

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
)

// TestSchemaMatchesTypes keeps api/schemas/experiment.yaml and the parser's
// types one description: every object's properties are exactly the json
// names of its Go type, and the enums are the generator's names.
func TestSchemaMatchesTypes(t *testing.T) {
	data, err := os.ReadFile("../../../../api/schemas/experiment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(data, &schema); err != nil {
		t.Fatalf("schema is not YAML: %v", err)
	}
	get := func(path ...string) map[string]any {
		t.Helper()
		var cur any = schema
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("schema has no %v", path)
			}
			cur = m[p]
		}
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("schema %v is not an object", path)
		}
		return m
	}
	spec := []string{"properties", "spec", "properties"}
	cases := []struct {
		name  string
		props map[string]any
		typ   reflect.Type
	}{
		{"document", get("properties"), reflect.TypeFor[Experiment]()},
		{"metadata", get("properties", "metadata", "properties"), reflect.TypeFor[Metadata]()},
		{"spec", get(spec...), reflect.TypeFor[Spec]()},
		{"target", get(append(spec, "target", "properties")...), reflect.TypeFor[Target]()},
		{"criteria", get(append(spec, "criteria", "properties")...), reflect.TypeFor[Criteria]()},
		{"rollout", get(append(spec, "rollout", "properties")...), reflect.TypeFor[Rollout]()},
		{"variant", get("$defs", "variant", "properties"), reflect.TypeFor[Variant]()},
		{"strategy", get("$defs", "strategy", "properties"), reflect.TypeFor[pipelinegen.Strategy]()},
		{"tiers", get("$defs", "strategy", "properties", "tiers", "properties"), reflect.TypeFor[pipelinegen.Tiers]()},
	}
	for _, c := range cases {
		want := knownNames(fieldsOf(c.typ))
		got := sortedKeys(c.props)
		if !slices.Equal(got, want) {
			t.Errorf("%s: schema properties %v, Go fields %v", c.name, got, want)
		}
	}
	enum := func(m map[string]any) []string {
		var out []string
		for _, v := range m["enum"].([]any) {
			out = append(out, v.(string))
		}
		slices.Sort(out)
		return out
	}
	templates := slices.Sorted(slices.Values(pipelinegen.TemplateNames()))
	if got := enum(get("$defs", "variant", "properties", "template")); !slices.Equal(got, templates) {
		t.Errorf("template enum %v, generator %v", got, templates)
	}
	types := slices.Sorted(slices.Values(pipelinegen.StrategyTypes))
	if got := enum(get("$defs", "strategy", "properties", "type")); !slices.Equal(got, types) {
		t.Errorf("strategy type enum %v, generator %v", got, types)
	}
}
