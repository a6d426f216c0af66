package ingest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// FuzzOTLPJSON: any JSON body either fails to decode (400) or becomes a
// protobuf request the walker accepts and applies, never a panic.
func FuzzOTLPJSON(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/json/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceMetrics":[{}]}`))
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","summary":{"dataPoints":[{"sum":1}]}}]}]}]}`))
	tr := cardinality.New(cardinality.Limits{MaxStreams: 10, ExactSeriesPerStream: 1000}, nil)
	s := New(Config{}, tr, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		pb, err := jsonToProto(body)
		if err != nil {
			return
		}
		if err := otlpwire.Walk(pb, &nopSink{}); err != nil {
			t.Fatalf("the upstream encoder's output is refused: %v", err)
		}
		if _, err := s.ApplyOTLP(pb, "", Writer{}); err != nil {
			t.Fatalf("apply: %v", err)
		}
	})
}

type nopSink struct{}

func (nopSink) Resource(*otlpwire.Resource)        {}
func (nopSink) Metric([]byte, otlpwire.MetricType) {}
func (nopSink) Point(uint64, float64, []byte)      {}
func (nopSink) Refuse(otlpwire.Refusal)            {}

func TestJSONSeed(t *testing.T) {
	b, err := os.ReadFile("testdata/json/process.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := cardinality.New(cardinality.Limits{}, nil)
	s := New(Config{}, tr, nil, nil)
	pb, err := jsonToProto(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyOTLP(pb, "", Writer{})
	if err != nil || res.Points != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	rep := tr.Stream("e1--candidate").Snapshot().Report(5)
	if rep.ActiveSeries != 3 {
		t.Errorf("series %d", rep.ActiveSeries)
	}
}
