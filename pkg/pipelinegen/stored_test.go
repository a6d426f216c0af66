package pipelinegen

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

type cfgDoc struct {
	Processors map[string]any `yaml:"processors"`
	Service    struct {
		Pipelines map[string]struct {
			Processors []string `yaml:"processors"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

func parseCfg(t *testing.T, b []byte) cfgDoc {
	t.Helper()
	var d cfgDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// A variant given as a stored production config runs exactly that
// config's processors: the same bodies, in the same order, as the same
// pipeline given as a template.
func TestStoredVariant(t *testing.T) {
	exp := &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}
	for _, tc := range []struct {
		name string
		prod Request
		same Variant
	}{
		{"topk template", Request{Template: "topk", Set: map[string]string{"k": "5", "critical": "nginx|postgres"}},
			Variant{Template: "topk", Set: map[string]string{"k": "5", "critical": "nginx|postgres"}}},
		{"strategies", Request{Strategies: []Strategy{{Type: PriorityTiers, Tiers: &Tiers{Critical: "nginx", Low: "postgres"}}, {Type: DropLabels, Labels: []string{"process.pid"}}}},
			Variant{Strategies: []Strategy{{Type: PriorityTiers, Tiers: &Tiers{Critical: "nginx", Low: "postgres"}}, {Type: DropLabels, Labels: []string{"process.pid"}}}}},
		{"pass-through", Request{Template: "baseline"}, Variant{Template: "baseline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prod := tc.prod
			prod.Target = Target{Exporter: exp}
			stored, err := Generate(prod)
			if err != nil {
				t.Fatal(err)
			}
			fanOut := func(v Variant) cfgDoc {
				v.Name = "cand"
				res, err := Generate(Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e",
					Baseline: &Variant{Config: string(stored.Config)}, Candidates: []Variant{v}}})
				if err != nil {
					t.Fatal(err)
				}
				return parseCfg(t, res.Config)
			}
			fromStored := fanOut(Variant{Config: string(stored.Config)})
			fromSpec := fanOut(tc.same)
			a, b := fromStored.Service.Pipelines["metrics/cand"].Processors, fromSpec.Service.Pipelines["metrics/cand"].Processors
			if len(a) != len(b) || len(a) < 3 {
				t.Fatalf("processors %v from the stored config, %v from the spec", a, b)
			}
			for i := range a {
				if !reflect.DeepEqual(fromStored.Processors[a[i]], fromSpec.Processors[b[i]]) {
					t.Errorf("processor %d: %s = %v, want %s = %v", i, a[i], fromStored.Processors[a[i]], b[i], fromSpec.Processors[b[i]])
				}
			}
			// The baseline, from the same stored config, has its own ids.
			base := fromStored.Service.Pipelines["metrics/baseline"].Processors
			if len(base) != len(a) || (len(a) > 3 && base[2] == a[2]) {
				t.Errorf("baseline processors %v, candidate %v", base, a)
			}
		})
	}
}

func TestStoredVariantRefused(t *testing.T) {
	for _, tc := range []struct {
		name, config, template, want string
	}{
		{"not yaml", "processors: [", "", "is not a collector config"},
		{"not a mapping", "- a\n", "", "a YAML mapping"},
		{"no pipelines", "processors: {}\n", "", "has no service::pipelines"},
		{"no metrics pipeline", "service: {pipelines: {traces: {}}}\n", "", "has no metrics pipeline"},
		{"two metrics pipelines", "service: {pipelines: {metrics/a: {}, metrics/b: {}}}\n", "", "several metrics pipelines"},
		{"undefined processor", "service: {pipelines: {metrics: {processors: [memory_limiter, filter/x]}}}\n", "", "filter/x of the metrics pipeline is not defined"},
		{"config and template", "service: {pipelines: {metrics: {}}}\n", "topk", "only one"},
		{"too large", strings.Repeat("#", MaxStoredConfigBytes+1), "", "the limit is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e",
				Candidates: []Variant{{Name: "c", Config: tc.config, Template: tc.template}}}})
			if err == nil || !strings.Contains(err.Error()+errorsOf(err), tc.want) {
				t.Fatalf("error %v (%s), want %q", err, errorsOf(err), tc.want)
			}
		})
	}
}

func errorsOf(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(problem.From(err).Errors)
}

// FuzzStoredProcessors: any config is read or refused, never a panic, and
// every processor read is renamed for the variant.
func FuzzStoredProcessors(f *testing.F) {
	res, err := Generate(Request{Template: "topk", Target: Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(res.Config))
	f.Add("service: {pipelines: {metrics/a: {processors: [x]}}}\nprocessors: {x: {}}\n")
	f.Add("service: {pipelines: {metrics: {processors: {a: b}}}}\n")
	f.Fuzz(func(t *testing.T, config string) {
		procs, errs := storedProcessors("v", config, "p")
		if len(errs) > 0 {
			return
		}
		for _, p := range procs {
			if !strings.Contains(p.id, "/v") || p.body == nil {
				t.Fatalf("processor %q not renamed for the variant", p.id)
			}
		}
	})
}
