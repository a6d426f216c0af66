package experiment

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
)

// TestExamplesGenerate: the examples are real: their fan-out configs
// generate, name every variant's stream, and the real collector accepts
// them (skipped locally without the collector binary, required in CI).
func TestExamplesGenerate(t *testing.T) {
	examples, _ := filepath.Glob("../../../../examples/experiments/*.yaml")
	if len(examples) < 2 {
		t.Fatalf("examples: %v", examples)
	}
	var configs [][]byte
	for _, f := range examples {
		e := mustSpec(t, f)
		req, err := e.GeneratorRequest(pipelinegen.Source{}, "", nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		res, err := pipelinegen.Generate(req)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cfg := string(res.Config)
		for _, want := range append([]string{"metrics/" + BaselineVariant, e.Metadata.Name}, candidatePipelines(e)...) {
			if !strings.Contains(cfg, want) {
				t.Errorf("%s: config lacks %q", filepath.Base(f), want)
			}
		}
		configs = append(configs, res.Config)
	}
	v := pipelinegen.NewValidator(collectortest.Bin(t))
	for i, cfg := range configs {
		errs, err := v.Validate(context.Background(), cfg)
		if err != nil || len(errs) > 0 {
			t.Errorf("%s: the collector refuses the config: %v %v", filepath.Base(examples[i]), errs, err)
		}
	}
}

func candidatePipelines(e Experiment) []string {
	var out []string
	for _, c := range e.Spec.Candidates {
		out = append(out, "metrics/"+c.Name)
	}
	return out
}

func TestGeneratorRequestStoredPipelines(t *testing.T) {
	e := mustSpec(t, "testdata/full.good.yaml") // baseline: prod-hosts@3
	if _, err := e.GeneratorRequest(pipelinegen.Source{}, "", nil); err == nil || !strings.Contains(err.Error(), "prod-hosts@3") {
		t.Fatalf("a stored pipeline without a resolver: %v", err)
	}
	missing := errors.New("no such pipeline")
	if _, err := e.GeneratorRequest(pipelinegen.Source{}, "", func(string) (string, error) { return "", missing }); !errors.Is(err, missing) {
		t.Fatalf("resolver error: %v", err)
	}
	var asked string
	stored, err := pipelinegen.Generate(pipelinegen.Request{Strategies: []pipelinegen.Strategy{{Type: pipelinegen.DropLabels, Labels: []string{"process.pid"}}},
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://backend:4318"}}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := e.GeneratorRequest(pipelinegen.Source{}, "http://phoenix:4318", func(ref string) (string, error) {
		asked = ref
		return string(stored.Config), nil
	})
	if err != nil || asked != "prod-hosts@3" {
		t.Fatalf("resolve %q: %v", asked, err)
	}
	if req.Target.ExperimentID != "fleet-trim_2" || req.Target.Baseline.Name != BaselineVariant || req.Target.Baseline.Config != string(stored.Config) ||
		len(req.Target.Candidates) != 3 || req.Target.Candidates[1].Name != "drop-pid" || req.Target.IngestEndpoint != "http://phoenix:4318" {
		t.Fatalf("request: %+v", req.Target)
	}
	res, err := pipelinegen.Generate(req)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	// The baseline runs the stored config's drop, renamed for the variant.
	if !strings.Contains(string(res.Config), "/baseline") || !strings.Contains(string(res.Config), "process.pid") {
		t.Fatalf("the baseline does not run the stored pipeline:\n%s", res.Config)
	}
}
