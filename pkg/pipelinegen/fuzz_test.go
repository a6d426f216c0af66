package pipelinegen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzGenerate decodes a request as the API does and generates: any input
// either fails with field errors or yields YAML that parses, twice the same.
func FuzzGenerate(f *testing.F) {
	cases, _ := filepath.Glob("../../projects/generator/testdata/cases/*.json")
	for _, c := range cases {
		b, err := os.ReadFile(c)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"strategies":[{"type":"priority_tiers","tiers":{"low":"a\"b\\\\","medium":"x"}}],"target":{"exporter":{"type":"otlp","config":{"a":[1,2.5,{"b":null}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var r Request
		if dec.Decode(&r) != nil {
			return
		}
		res, err := Generate(r)
		if err != nil {
			return
		}
		var doc map[string]any
		if err := yaml.Unmarshal(res.Config, &doc); err != nil {
			t.Fatalf("generated YAML does not parse: %v\n%s", err, res.Config)
		}
		for _, k := range []string{"receivers", "processors", "exporters", "service"} {
			if _, ok := doc[k]; !ok {
				t.Fatalf("generated config lacks %s", k)
			}
		}
		again, err := Generate(r)
		if err != nil || !bytes.Equal(again.Config, res.Config) {
			t.Fatal("not deterministic")
		}
	})
}
