package otlpwire_test

import (
	"os"
	"path/filepath"
	"testing"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

type countSink struct {
	resources, metrics, points int
	refused                    map[otlpwire.Refusal]int
	names                      map[string]otlpwire.MetricType
	values                     []float64
	hashes                     []uint64
}

func (c *countSink) Resource(*otlpwire.Resource) { c.resources++ }
func (c *countSink) Metric(name []byte, t otlpwire.MetricType) {
	c.metrics++
	if c.names == nil {
		c.names = map[string]otlpwire.MetricType{}
	}
	c.names[string(name)] = t
}
func (c *countSink) Refuse(r otlpwire.Refusal) {
	if c.refused == nil {
		c.refused = map[otlpwire.Refusal]int{}
	}
	c.refused[r]++
}
func (c *countSink) Point(h uint64, v float64, _ []byte) {
	c.points++
	c.values = append(c.values, v)
	c.hashes = append(c.hashes, h)
}

func protoPoints(req *colmetrics.ExportMetricsServiceRequest) int {
	n := 0
	for _, rm := range req.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case *metrics.Metric_Gauge:
					n += len(d.Gauge.DataPoints)
				case *metrics.Metric_Sum:
					n += len(d.Sum.DataPoints)
				case *metrics.Metric_Histogram:
					n += len(d.Histogram.DataPoints)
				case *metrics.Metric_ExponentialHistogram:
					n += len(d.ExponentialHistogram.DataPoints)
				case *metrics.Metric_Summary:
					n += len(d.Summary.DataPoints)
				}
			}
		}
	}
	return n
}

func allTypes() []byte {
	kv := otlptest.KV
	a := []*common.KeyValue{kv("k", "v")}
	_ = a
	return otlptest.Marshal(otlptest.Request(otlptest.RM(
		[]*common.KeyValue{kv("host.name", "h"), kv("phoenix.variant", "b"), kv("phoenix.experiment.id", "e")},
		otlptest.Gauge("g", 1.5, []*common.KeyValue{kv("a", "1")}),
		otlptest.Sum("s", 2, []*common.KeyValue{kv("a", "1")}, []*common.KeyValue{kv("a", "2")}),
		otlptest.Histogram("h", 3, []*common.KeyValue{kv("a", "1")}),
		otlptest.ExpHistogram("eh", 4, nil),
		otlptest.Summary("sm", 5, []*common.KeyValue{kv("q", "x")}),
	)))
}

func TestWalkAllTypes(t *testing.T) {
	body := allTypes()
	n, err := otlpwire.Validate(body)
	if err != nil || n != 6 {
		t.Fatalf("validate: %d %v", n, err)
	}
	var c countSink
	var res *otlpwire.Resource
	if err := otlpwire.Walk(body, sinkFunc{&c, func(r *otlpwire.Resource) { cp := *r; res = &cp }}); err != nil {
		t.Fatal(err)
	}
	if c.points != 6 || c.metrics != 5 {
		t.Fatalf("points %d metrics %d", c.points, c.metrics)
	}
	want := map[string]otlpwire.MetricType{"g": otlpwire.TypeGauge, "s": otlpwire.TypeSum, "h": otlpwire.TypeHistogram, "eh": otlpwire.TypeExpHistogram, "sm": otlpwire.TypeSummary}
	for k, v := range want {
		if c.names[k] != v {
			t.Errorf("metric %s: type %v, want %v", k, c.names[k], v)
		}
	}
	if wantV := []float64{1.5, 2, 2, 3, 4, 5}; len(c.values) == 6 {
		for i := range wantV {
			if c.values[i] != wantV[i] {
				t.Errorf("value %d = %v, want %v", i, c.values[i], wantV[i])
			}
		}
	}
	if string(res.Experiment) != "e" || string(res.Variant) != "b" {
		t.Errorf("routing attrs: %q %q", res.Experiment, res.Variant)
	}
	// The same attribute set in another order hashes alike.
	if c.hashes[0] != c.hashes[1] {
		t.Error("a=1 on gauge and sum hash differently")
	}
}

type sinkFunc struct {
	*countSink
	res func(*otlpwire.Resource)
}

func (s sinkFunc) Resource(r *otlpwire.Resource) { s.countSink.Resource(r); s.res(r) }

func TestValidateRejects(t *testing.T) {
	good := allTypes()
	cases := map[string][]byte{
		"truncated":    good[:len(good)-3],
		"bad tag":      {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad length":   {0x0a, 0x10, 0x01},
		"bad nested":   {0x0a, 0x02, 0x12, 0x05},
		"bad key utf8": otlptest.Marshal(otlptest.Request(otlptest.RM(nil, otlptest.Gauge("g", 1, nil)))),
	}
	// Build an attribute key with invalid UTF-8 by hand: resource_metrics{resource{attributes{key: "\xff"}}}.
	kvb := []byte{0x0a, 0x01, 0xff}
	attr := append([]byte{0x0a, byte(len(kvb))}, kvb...)
	res := append([]byte{0x0a, byte(len(attr))}, attr...)
	cases["bad key utf8"] = append([]byte{0x0a, byte(len(res))}, res...)
	for name, body := range cases {
		if _, err := otlpwire.Validate(body); err == nil {
			t.Errorf("%s: accepted by Validate", name)
		}
		if err := otlpwire.Walk(body, &countSink{}); err == nil {
			t.Errorf("%s: accepted by Walk", name)
		}
	}
}

// FuzzOTLP: whatever the bytes, Validate and Walk do not panic; what
// Validate accepts, Walk reads with the same number of points; and every
// request the reference decoder accepts, Validate accepts with the same count.
func FuzzOTLP(f *testing.F) {
	f.Add(allTypes())
	for _, b := range otlptest.ProcessFleet(0, 3, 10) {
		f.Add(b)
	}
	seeds, _ := filepath.Glob("testdata/*.binpb")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := otlpwire.Validate(body)
		var ref colmetrics.ExportMetricsServiceRequest
		refErr := proto.Unmarshal(body, &ref)
		if refErr == nil {
			if err != nil {
				t.Fatalf("reference decoder accepts, Validate refuses: %v", err)
			}
			_ = n // Validate counts points of every data field; the reference keeps the last (oneof)
		}
		var c countSink
		werr := otlpwire.Walk(body, &c)
		if (werr == nil) != (err == nil) {
			t.Fatalf("Walk error %v, Validate error %v", werr, err)
		}
		if werr == nil && refErr == nil && c.points != protoPoints(&ref) {
			t.Fatalf("Walk saw %d points, reference %d", c.points, protoPoints(&ref))
		}
	})
}

func BenchmarkWalk(b *testing.B) {
	bodies := otlptest.ProcessFleet(0, 100, 1000)
	body := bodies[0]
	var c countSink
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		c = countSink{values: c.values[:0], hashes: c.hashes[:0]}
		if err := otlpwire.Walk(body, &c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.points), "ns/dp")
}
