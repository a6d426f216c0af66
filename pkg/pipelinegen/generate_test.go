package pipelinegen

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

var prod = Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}

func TestGenerateRejects(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want string // a path among the errors
	}{
		{"unknown template", Request{Template: "nope", Target: prod}, "template"},
		{"unknown param", Request{Template: "topk", Set: map[string]string{"nope": "1"}, Target: prod}, "set.nope"},
		{"bad k", Request{Template: "topk", Set: map[string]string{"k": "0"}, Target: prod}, "set.k"},
		{"bad interval", Request{Template: "conservative", Set: map[string]string{"interval": "soon"}, Target: prod}, "set.interval"},
		{"param of other template", Request{Template: "baseline", Set: map[string]string{"k": "3"}, Target: prod}, "set.k"},
		{"unknown strategy", Request{Strategies: []Strategy{{Type: "magic"}}, Target: prod}, "strategies[0].type"},
		{"field of other type", Request{Strategies: []Strategy{{Type: DropLabels, Labels: []string{"a"}, K: 3}}, Target: prod}, "strategies[0].k"},
		{"topk without k", Request{Strategies: []Strategy{{Type: TopK}}, Target: prod}, "strategies[0].k"},
		{"bad regex", Request{Strategies: []Strategy{{Type: DropMetrics, MetricRegex: []string{"("}}}, Target: prod}, "strategies[0].metric_regex[0]"},
		{"bad scope", Request{Strategies: []Strategy{{Type: DropLabels, Labels: []string{"a"}, Scope: "metric"}}, Target: prod}, "strategies[0].scope"},
		{"bad tier regex", Request{Strategies: []Strategy{{Type: PriorityTiers, Tiers: &Tiers{Low: "a[", Critical: "b"}}}, Target: prod}, "strategies[0].tiers.low"},
		{"cap action", Request{Strategies: []Strategy{{Type: CardinalityCap, Limit: 5, Action: "explode"}}, Target: prod}, "strategies[0].action"},
		{"duplicate id", Request{Strategies: []Strategy{{Type: TopK, K: 1, ID: "x"}, {Type: TopK, K: 2, ID: "x"}}, Target: prod}, "strategies[1].id"},
		{"template and strategies", Request{Template: "topk", Strategies: []Strategy{{Type: TopK, K: 1}}, Target: prod}, "strategies"},
		{"no exporter", Request{Template: "baseline"}, "target.exporter"},
		{"exporter endpoint", Request{Template: "baseline", Target: Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "ftp://x"}}}, "target.exporter.endpoint"},
		{"custom exporter endpoint", Request{Template: "baseline", Target: Target{Exporter: &Exporter{Type: "otlp", Endpoint: "http://x"}}}, "target.exporter.endpoint"},
		{"bad exporter type", Request{Template: "baseline", Target: Target{Exporter: &Exporter{Type: "Bad Type"}}}, "target.exporter.type"},
		{"telemetry addr", Request{Template: "baseline", TelemetryAddr: "nowhere", Target: prod}, "telemetry_addr"},
		{"source kind", Request{Template: "baseline", Source: Source{Kind: "syslog"}, Target: prod}, "source.kind"},
		{"target kind", Request{Template: "baseline", Target: Target{Kind: "staging"}}, "target.kind"},
		{"experiment id", Request{Target: Target{Kind: TargetExperiment, Candidates: []Variant{{Template: "topk"}}}}, "target.experiment_id"},
		{"experiment no candidates", Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e"}}, "target.candidates"},
		{"experiment template at top", Request{Template: "topk", Target: Target{Kind: TargetExperiment, ExperimentID: "e", Candidates: []Variant{{Template: "topk"}}}}, "template"},
		{"duplicate variant", Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e", Candidates: []Variant{{Name: "a", Template: "topk"}, {Name: "a", Template: "balanced"}}}}, "target.candidates[1].name"},
		{"candidate param", Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e", Candidates: []Variant{{Template: "topk", Set: map[string]string{"k": "x"}}}}}, "target.candidates[0].set.k"},
		{"empty candidate", Request{Target: Target{Kind: TargetExperiment, ExperimentID: "e", Candidates: []Variant{{}}}}, "target.candidates[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Generate(c.req)
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("err = %v, want a 400 problem", err)
			}
			var paths []string
			for _, e := range p.Errors {
				paths = append(paths, e.Path)
				if e.Path == c.want {
					return
				}
			}
			t.Fatalf("paths %v, want %q", paths, c.want)
		})
	}
}

// TestGenerateStructure checks the invariants every config must keep:
// memory_limiter first, batch last, explicit telemetry, one receiver shared
// by every experiment pipeline, per-variant resource tagging.
func TestGenerateStructure(t *testing.T) {
	res, err := Generate(Request{
		TelemetryAddr: "127.0.0.1:19999",
		Target: Target{Kind: TargetExperiment, ExperimentID: "exp1", Candidates: []Variant{
			{Template: "balanced"}, {Name: "k10", Template: "topk"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Processors map[string]map[string]any `yaml:"processors"`
		Exporters  map[string]struct {
			Endpoint string            `yaml:"endpoint"`
			Headers  map[string]string `yaml:"headers"`
		} `yaml:"exporters"`
		Service struct {
			Telemetry struct {
				Metrics struct {
					Readers []struct {
						Pull struct {
							Exporter struct {
								Prometheus struct {
									Host string `yaml:"host"`
									Port int    `yaml:"port"`
								} `yaml:"prometheus"`
							} `yaml:"exporter"`
						} `yaml:"pull"`
					} `yaml:"readers"`
				} `yaml:"metrics"`
			} `yaml:"telemetry"`
			Pipelines map[string]pipelineYAML `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(res.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	rd := cfg.Service.Telemetry.Metrics.Readers
	if len(rd) != 1 || rd[0].Pull.Exporter.Prometheus.Host != "127.0.0.1" || rd[0].Pull.Exporter.Prometheus.Port != 19999 {
		t.Fatalf("telemetry readers = %+v", rd)
	}
	wantPipes := []string{"metrics/baseline", "metrics/candidate-a", "metrics/k10"}
	if len(cfg.Service.Pipelines) != len(wantPipes) {
		t.Fatalf("pipelines = %v", cfg.Service.Pipelines)
	}
	for _, name := range wantPipes {
		p, ok := cfg.Service.Pipelines[name]
		if !ok {
			t.Fatalf("missing pipeline %s", name)
		}
		variant := strings.TrimPrefix(name, "metrics/")
		if len(p.Receivers) != 1 || p.Receivers[0] != "host_metrics" {
			t.Errorf("%s receivers = %v", name, p.Receivers)
		}
		if p.Processors[0] != "memory_limiter" || p.Processors[len(p.Processors)-1] != "batch" {
			t.Errorf("%s processors = %v: memory_limiter first, batch last", name, p.Processors)
		}
		if p.Processors[len(p.Processors)-2] != "resource/"+variant {
			t.Errorf("%s: resource/%s must tag the variant just before batch: %v", name, variant, p.Processors)
		}
		attrs := cfg.Processors["resource/"+variant]["attributes"].([]any)
		tags := map[string]any{}
		for _, a := range attrs {
			m := a.(map[string]any)
			tags[m["key"].(string)] = m["value"]
		}
		if tags["phoenix.experiment.id"] != "exp1" || tags["phoenix.variant"] != variant {
			t.Errorf("%s tags = %v", name, tags)
		}
		for _, pr := range p.Processors {
			if _, ok := cfg.Processors[pr]; !ok {
				t.Errorf("%s uses undefined processor %s", name, pr)
			}
		}
		if len(p.Exporters) != 1 || p.Exporters[0] != "otlp_http/phoenix" {
			t.Errorf("%s exporters = %v", name, p.Exporters)
		}
	}
	// The agent's key and id come from the collector's environment, never
	// the config itself (ADR 0016).
	exp := cfg.Exporters["otlp_http/phoenix"]
	if exp.Endpoint != DefaultIngestEndpoint || len(exp.Headers) != 2 ||
		exp.Headers["Authorization"] != "Bearer ${env:PHOENIX_INGEST_TOKEN}" || exp.Headers["X-Phoenix-Agent"] != "${env:PHOENIX_AGENT_ID}" {
		t.Errorf("otlp_http/phoenix = %+v, want the ingest endpoint with the agent's credentials from the environment", exp)
	}
	if got := cfg.Processors["phoenix_topk/k10-topk"]["k"]; got != 10 {
		t.Errorf("k10 topk k = %v", got)
	}
	if len(res.Variants["metrics/baseline"]) != 0 {
		t.Errorf("baseline has strategies: %v", res.Variants["metrics/baseline"])
	}
}

func TestTemplatesDocumented(t *testing.T) {
	want := []string{"baseline", "conservative", "balanced", "aggressive", "topk"}
	got := TemplateNames()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("templates = %v, want %v", got, want)
	}
	for _, tp := range Templates() {
		if tp.Summary == "" || tp.WhenToUse == "" || tp.Risk == "" {
			t.Errorf("%s is not documented", tp.Name)
		}
		for _, p := range tp.Params {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", tp.Name, p.Name)
			}
		}
		if _, err := Generate(Request{Template: tp.Name, Target: prod}); err != nil {
			t.Errorf("%s with defaults: %v", tp.Name, err)
		}
	}
}

func TestUnifiedDiff(t *testing.T) {
	if d := UnifiedDiff("a", "b", "x\ny\n", "x\ny\n"); d != "" {
		t.Fatalf("equal inputs diff = %q", d)
	}
	d := UnifiedDiff("v1", "v2", "a\nb\nc\n", "a\nB\nc\n")
	for _, want := range []string{"--- v1", "+++ v2", "-b", "+B", " a"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	req := Request{Target: Target{Kind: TargetExperiment, ExperimentID: "exp1", Candidates: []Variant{
		{Template: "balanced"}, {Template: "aggressive"}, {Template: "topk"},
	}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(req); err != nil {
			b.Fatal(err)
		}
	}
}
