package pipelinegen

import (
	"context"
	"errors"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// devConfig is the part of a generated config the dev source decides.
type devConfig struct {
	Receivers struct {
		OTLP *struct {
			Protocols struct {
				GRPC struct{ Endpoint string } `yaml:"grpc"`
				HTTP struct{ Endpoint string } `yaml:"http"`
			} `yaml:"protocols"`
		} `yaml:"otlp"`
		HostMetrics *struct {
			CollectionInterval string         `yaml:"collection_interval"`
			Scrapers           map[string]any `yaml:"scrapers"`
		} `yaml:"host_metrics"`
	} `yaml:"receivers"`
	Processors map[string]any `yaml:"processors"`
	Exporters  map[string]struct {
		Endpoint string            `yaml:"endpoint"`
		Headers  map[string]string `yaml:"headers"`
	} `yaml:"exporters"`
	Service struct {
		Pipelines map[string]pipelineYAML `yaml:"pipelines"`
	} `yaml:"service"`
}

// pipelineYAML is one service.pipelines entry of a generated config.
type pipelineYAML struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
	Exporters  []string `yaml:"exporters"`
}

// TestGenerateDev checks what makes the --dev collector behave as it did
// before pipelinegen wrote its config: the same intakes on the same ports,
// one exporter to Phoenix ingest with no stream header (the default
// stream), host.name detected on host processes only, and the preset's
// processors in every pipeline.
func TestGenerateDev(t *testing.T) {
	type pipe struct {
		receiver   string
		processors []string
	}
	tests := []struct {
		name       string
		req        DevRequest
		grpc, http string
		ingest     string
		pipelines  map[string]pipe
	}{
		{
			name: "defaults with host processes",
			req:  DevRequest{HostProcesses: true},
			grpc: DefaultOTLPGRPCEndpoint, http: DefaultOTLPHTTPEndpoint, ingest: DefaultIngestEndpoint,
			pipelines: map[string]pipe{
				"metrics/otlp": {"otlp", []string{"memory_limiter", "batch"}},
				"metrics/host": {"host_metrics", []string{"memory_limiter", "resource_detection/system", "batch"}},
			},
		},
		{
			name: "otlp only",
			req: DevRequest{OTLPGRPCEndpoint: "127.0.0.1:24317", OTLPHTTPEndpoint: "127.0.0.1:24318",
				IngestEndpoint: "http://127.0.0.1:9318"},
			grpc: "127.0.0.1:24317", http: "127.0.0.1:24318", ingest: "http://127.0.0.1:9318",
			pipelines: map[string]pipe{
				"metrics": {"otlp", []string{"memory_limiter", "batch"}},
			},
		},
		{
			name: "preset applies to both intakes",
			req:  DevRequest{Template: "topk", Set: map[string]string{"k": "5"}, HostProcesses: true},
			grpc: DefaultOTLPGRPCEndpoint, http: DefaultOTLPHTTPEndpoint, ingest: DefaultIngestEndpoint,
			pipelines: map[string]pipe{
				"metrics/otlp": {"otlp", []string{"memory_limiter", "phoenix_topk/topk", "batch"}},
				"metrics/host": {"host_metrics", []string{"memory_limiter", "resource_detection/system", "phoenix_topk/topk", "batch"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := GenerateDev(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var cfg devConfig
			if err := yaml.Unmarshal(res.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			if o := cfg.Receivers.OTLP; o == nil || o.Protocols.GRPC.Endpoint != tt.grpc || o.Protocols.HTTP.Endpoint != tt.http {
				t.Errorf("otlp receiver = %+v, want grpc %s http %s", o, tt.grpc, tt.http)
			}
			if hm := cfg.Receivers.HostMetrics; tt.req.HostProcesses != (hm != nil) {
				t.Errorf("host_metrics receiver = %+v with HostProcesses %v", hm, tt.req.HostProcesses)
			} else if hm != nil {
				if len(hm.Scrapers) != 1 || hm.Scrapers["process"] == nil {
					t.Errorf("host_metrics scrapers = %v, want the process scraper only", hm.Scrapers)
				}
			}
			if len(cfg.Exporters) != 1 {
				t.Fatalf("exporters = %v, want one", cfg.Exporters)
			}
			ex, ok := cfg.Exporters["otlp_http"]
			if !ok || ex.Endpoint != tt.ingest || len(ex.Headers) != 0 {
				t.Errorf("exporters = %+v, want otlp_http to %s without headers", cfg.Exporters, tt.ingest)
			}
			if len(cfg.Service.Pipelines) != len(tt.pipelines) {
				t.Errorf("pipelines = %v, want %v", cfg.Service.Pipelines, tt.pipelines)
			}
			for name, want := range tt.pipelines {
				got, ok := cfg.Service.Pipelines[name]
				if !ok {
					t.Errorf("no pipeline %s", name)
					continue
				}
				if !slices.Equal(got.Receivers, []string{want.receiver}) || !slices.Equal(got.Exporters, []string{"otlp_http"}) {
					t.Errorf("%s: %v -> %v, want [%s] -> [otlp_http]", name, got.Receivers, got.Exporters, want.receiver)
				}
				if !slices.Equal(got.Processors, want.processors) {
					t.Errorf("%s processors = %v, want %v", name, got.Processors, want.processors)
				}
				for _, p := range got.Processors {
					if _, ok := cfg.Processors[p]; !ok {
						t.Errorf("%s uses undefined processor %s", name, p)
					}
				}
			}
			again, err := GenerateDev(tt.req)
			if err != nil || again.ConfigHash != res.ConfigHash {
				t.Errorf("not deterministic: %s then %s (%v)", res.ConfigHash, again.ConfigHash, err)
			}
		})
	}
}

func TestGenerateDevRejects(t *testing.T) {
	tests := []struct {
		name string
		req  DevRequest
		want string
	}{
		{"unknown preset", DevRequest{Template: "nope"}, "template"},
		{"bad param", DevRequest{Template: "topk", Set: map[string]string{"k": "0"}}, "set.k"},
		{"bad otlp endpoint", DevRequest{OTLPHTTPEndpoint: "nowhere"}, "source.http_endpoint"},
		{"bad ingest", DevRequest{IngestEndpoint: "127.0.0.1:4318"}, "target.exporter.endpoint"},
		{"health on telemetry", DevRequest{TelemetryAddr: "127.0.0.1:1", HealthAddr: "127.0.0.1:1"}, "health_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GenerateDev(tt.req)
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("err = %v, want a 400 problem", err)
			}
			for _, e := range p.Errors {
				if e.Path == tt.want {
					return
				}
			}
			t.Fatalf("errors %v, want path %q", p.Errors, tt.want)
		})
	}
}

// TestGenerateDevRealCollector: the real collector accepts the dev configs.
func TestGenerateDevRealCollector(t *testing.T) {
	v := NewValidator(collectortest.Bin(t))
	for _, req := range []DevRequest{
		{HostProcesses: true, HealthAddr: "127.0.0.1:13133"},
		{},
		{Template: "balanced", HostProcesses: true},
	} {
		res, err := GenerateDev(req)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := v.Validate(context.Background(), res.Config)
		if err != nil || len(errs) > 0 {
			t.Errorf("%+v rejected: %v %v\n%s", req, errs, err, res.Config)
		}
	}
}
