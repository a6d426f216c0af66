package ingest

import (
	"testing"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestRemoteWriteTypes: remote write 1.0 metadata sets metric types (in the
// same request or a later metadata-only one); without it the type is
// inferred from the name and marked so.
func TestRemoteWriteTypes(t *testing.T) {
	s, _ := newServer(t, Config{}, cardinality.Limits{})
	one := func(name string) otlptest.RWSeries {
		return otlptest.RWSeries{Labels: [][2]string{{"__name__", name}, {"job", "x"}}, Samples: []float64{1}}
	}
	series := []otlptest.RWSeries{
		one("http_requests_total"), one("lat_bucket"), one("lat_count"), one("lat_sum"),
		one("rpc"), one("rpc_count"), one("rpc_sum"), one("temp"), one("mem_bytes"),
		one("jobs_total"), one("q_bucket"), one("q_count"), one("s_count"), one("s_sum"), one("plain"),
	}
	md := []otlptest.RWMetadata{
		{Family: "http_requests_total", Type: 1}, {Family: "lat", Type: 3}, {Family: "rpc", Type: 5}, {Family: "temp", Type: 2},
		{Family: "nothing_here", Type: 1}, {Family: "plain", Type: 0}, // no such series; unknown type
	}
	if _, err := s.ApplyRemoteWrite(otlptest.RemoteWrite(series...), "t", Writer{}); err != nil {
		t.Fatal(err)
	}
	// Metadata alone, as Prometheus sends it; the mem_bytes family arrives
	// in a request with series.
	if res, err := s.ApplyRemoteWrite(otlptest.RemoteWriteWithMetadata(md), "t", Writer{}); err != nil || res.Points != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := s.ApplyRemoteWrite(otlptest.RemoteWriteWithMetadata([]otlptest.RWMetadata{{Family: "mem_bytes", Type: 2}}, one("mem_bytes")), "t", Writer{}); err != nil {
		t.Fatal(err)
	}
	// Metadata never creates a stream.
	if _, err := s.ApplyRemoteWrite(otlptest.RemoteWriteWithMetadata(md), "other", Writer{}); err != nil || s.tracker.Stream("other") != nil {
		t.Fatalf("metadata-only request created a stream: %v", err)
	}
	want := map[string]struct {
		typ      string
		inferred bool
	}{
		"http_requests_total": {"sum", false}, "lat_bucket": {"histogram", false}, "lat_count": {"histogram", false},
		"lat_sum": {"histogram", false}, "rpc": {"summary", false}, "rpc_count": {"summary", false}, "rpc_sum": {"summary", false},
		"temp": {"gauge", false}, "mem_bytes": {"gauge", false},
		"jobs_total": {"sum", true}, "q_bucket": {"histogram", true}, "q_count": {"histogram", true},
		"s_count": {"summary", true}, "s_sum": {"summary", true}, "plain": {"unknown", false},
	}
	rep := s.tracker.Stream("t").Snapshot().Report(1)
	if len(rep.Metrics) != len(want) {
		t.Fatalf("%d metrics", len(rep.Metrics))
	}
	for _, m := range rep.Metrics {
		if w := want[m.Name]; m.Type != w.typ || m.TypeInferred != w.inferred {
			t.Errorf("%s: type %s inferred %v, want %s %v", m.Name, m.Type, m.TypeInferred, w.typ, w.inferred)
		}
	}
}
