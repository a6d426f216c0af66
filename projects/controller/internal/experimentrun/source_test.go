package experimentrun

import (
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
)

func generated(t *testing.T, r pipelinegen.Request) []byte {
	t.Helper()
	r.Target.Exporter = &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}
	res, err := pipelinegen.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	return res.Config
}

// An experiment config reuses the production config's receivers and
// ports, read back from what the generator (or a person) wrote.
func TestSetupOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config []byte
		want   Setup
		ok     bool
	}{
		{"generated hostmetrics with health", generated(t, pipelinegen.Request{Template: "baseline",
			Source: pipelinegen.Source{CollectionInterval: "1s"}, TelemetryAddr: "127.0.0.1:19001", HealthAddr: "127.0.0.1:19002"}),
			Setup{Source: pipelinegen.Source{Kind: "hostmetrics", CollectionInterval: "1s"}, TelemetryAddr: "127.0.0.1:19001", HealthAddr: "127.0.0.1:19002"}, true},
		{"generated otlp without health", generated(t, pipelinegen.Request{Template: "baseline",
			Source: pipelinegen.Source{Kind: "otlp", GRPCEndpoint: "127.0.0.1:24317", HTTPEndpoint: "127.0.0.1:24318"}}),
			Setup{Source: pipelinegen.Source{Kind: "otlp", GRPCEndpoint: "127.0.0.1:24317", HTTPEndpoint: "127.0.0.1:24318"}, TelemetryAddr: pipelinegen.DefaultTelemetryAddr}, true},
		{"hand-written, older telemetry address, extension not enabled", []byte(`
receivers:
  hostmetrics/procs: {collection_interval: 30s, scrapers: {process: {}}}
extensions:
  health_check: {endpoint: "127.0.0.1:13133"}
service:
  telemetry: {metrics: {address: "127.0.0.1:8899"}}
  pipelines: {metrics: {receivers: [hostmetrics/procs], exporters: [debug]}}
`), Setup{Source: pipelinegen.Source{Kind: "hostmetrics", CollectionInterval: "30s"}, TelemetryAddr: "127.0.0.1:8899"}, true},
		{"no reusable receiver", []byte("receivers: {prometheus: {}}\n"), Setup{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := SetupOf(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || got != tc.want {
				t.Fatalf("SetupOf = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	if _, _, err := SetupOf([]byte("receivers: [")); err == nil {
		t.Fatal("a config that is not YAML was read")
	}
}

// FuzzSetupOf: any bytes are read or refused, never a panic, and a setup
// read back is one the generator accepts as a source kind.
func FuzzSetupOf(f *testing.F) {
	for _, r := range []pipelinegen.Request{
		{Template: "baseline", Source: pipelinegen.Source{CollectionInterval: "1s"}, HealthAddr: "127.0.0.1:19002"},
		{Template: "topk", Source: pipelinegen.Source{Kind: "otlp"}},
	} {
		r.Target.Exporter = &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}
		res, err := pipelinegen.Generate(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(res.Config)
	}
	f.Add([]byte("receivers: {otlp/x: {protocols: {grpc: 7}}}\nservice: {telemetry: {metrics: {readers: [{}]}}}\n"))
	f.Fuzz(func(t *testing.T, config []byte) {
		st, ok, err := SetupOf(config)
		if err != nil || !ok {
			return
		}
		if k := st.Source.Kind; k != pipelinegen.SourceHostMetrics && k != pipelinegen.SourceOTLP {
			t.Fatalf("source kind %q", k)
		}
	})
}
