package ingest

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

func labels(n int) []*common.KeyValue {
	out := make([]*common.KeyValue, n)
	for i := range out {
		out[i] = kv(fmt.Sprintf("l%d", i), "v")
	}
	return out
}

// TestLimitsPerProtocol: the same limits refuse the same series over OTLP
// (partial success with the count, reason and limit; the rest applied) and
// remote write (400 naming the limit; nothing applied), at the defaults and
// when configured.
func TestLimitsPerProtocol(t *testing.T) {
	mib := strings.Repeat("x", 1<<20)
	cases := []struct {
		name   string
		cfg    otlpwire.Limits
		metric string
		attrs  []*common.KeyValue
		reason string // "" when accepted
		limit  string // in the message
	}{
		{"fits", otlpwire.Limits{}, "up", labels(3), "", ""},
		{"1 MiB name", otlpwire.Limits{}, mib, nil, "metric_name_too_long", "analytics.max_metric_name_bytes"},
		{"1 MiB label name", otlpwire.Limits{}, "up", []*common.KeyValue{kv(mib, "v")}, "label_name_too_long", "analytics.max_label_name_bytes"},
		{"1 MiB label value", otlpwire.Limits{}, "up", []*common.KeyValue{kv("k", mib)}, "label_value_too_long", "analytics.max_label_value_bytes"},
		{"10000 labels", otlpwire.Limits{}, "up", labels(10_000), "too_many_labels", "analytics.max_labels_per_series"},
		{"128 labels", otlpwire.Limits{}, "up", labels(128), "", ""},
		{"129 labels", otlpwire.Limits{}, "up", labels(129), "too_many_labels", "128"},
		{"configured lower", otlpwire.Limits{MaxLabels: 2}, "up", labels(3), "too_many_labels", "2"},
		{"configured higher", otlpwire.Limits{MaxLabelValueBytes: 2 << 20}, "up", []*common.KeyValue{kv("k", mib)}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, hs := newServer(t, Config{MaxBodyBytes: 8 << 20, Limits: c.cfg}, cardinality.Limits{})
			// OTLP: the case's series beside one that fits.
			req := otlptest.Request(otlptest.RM(nil, // no resource attributes: they would count too
				otlptest.Gauge(c.metric, 1, c.attrs), otlptest.Gauge("fine", 1, nil)))
			resp, body := post(t, hs.URL+"/v1/metrics", otlptest.Marshal(req), map[string]string{"Content-Type": "application/x-protobuf", apiv1.HeaderStream: "o"})
			var out colmetrics.ExportMetricsServiceResponse
			if err := proto.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("otlp: %d %v", resp.StatusCode, err)
			}
			ps := out.GetPartialSuccess()
			wantSeries := int64(2)
			if c.reason != "" {
				wantSeries = 1
				if ps.GetRejectedDataPoints() != 1 || !strings.Contains(ps.GetErrorMessage(), c.reason) || !strings.Contains(ps.GetErrorMessage(), c.limit) {
					t.Errorf("otlp partial success %d %q, want 1 %s %s", ps.GetRejectedDataPoints(), ps.GetErrorMessage(), c.reason, c.limit)
				}
			} else if ps != nil {
				t.Errorf("otlp: refused %v", ps)
			}
			if got := s.tracker.Stream("o").Snapshot().Report(10).ActiveSeries; got != wantSeries {
				t.Errorf("otlp: %d series, want %d", got, wantSeries)
			}
			if c.reason != "" && s.tracker.Refused()[c.reason] != 1 {
				t.Errorf("otlp: refusal not counted: %v", s.tracker.Refused())
			}

			// Remote write: the same series, refused whole.
			lbls := [][2]string{{"__name__", c.metric}}
			for _, a := range c.attrs {
				lbls = append(lbls, [2]string{a.Key, a.Value.GetStringValue()})
			}
			rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "fine"}}, Samples: []float64{1}},
				otlptest.RWSeries{Labels: lbls, Samples: []float64{1}}))
			resp, body = post(t, hs.URL+"/api/v1/write", rw, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", apiv1.HeaderStream: "r"})
			if c.reason == "" {
				if resp.StatusCode != 204 {
					t.Errorf("rw: %d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 400 || !strings.Contains(body, c.limit) || len(body) > 1000 {
				t.Errorf("rw: %d %.300q, want 400 naming %s (short)", resp.StatusCode, body, c.limit)
			}
			if s.tracker.Stream("r") != nil {
				t.Error("rw: a refused request was applied")
			}
		})
	}
}

// TestValuesAndTimestamps: NaN, ±Inf and Prometheus's staleness marker are
// valid values in both specs and are taken; timestamps (zero, far future)
// do not matter, because activity is the arrival time (a far-future
// timestamp cannot keep a series active).
func TestValuesAndTimestamps(t *testing.T) {
	stale := math.Float64frombits(0x7ff0000000000002) // Prometheus's StaleNaN
	values := []float64{math.NaN(), math.Inf(1), math.Inf(-1), stale, 0, -1}
	farFuture := uint64(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := time.Now()
	clock := func() time.Time { return now }
	tr := cardinality.New(cardinality.Limits{Staleness: time.Minute}, clock)
	s := New(Config{}, tr, nil, nil)
	var pts []*metrics.NumberDataPoint
	for i, v := range values {
		for j, ts := range []uint64{0, farFuture} {
			pts = append(pts, &metrics.NumberDataPoint{
				Attributes: []*common.KeyValue{kv("i", fmt.Sprint(i*2+j))}, TimeUnixNano: ts,
				Value: &metrics.NumberDataPoint_AsDouble{AsDouble: v},
			})
		}
	}
	req := otlptest.Request(&metrics.ResourceMetrics{ScopeMetrics: []*metrics.ScopeMetrics{{Metrics: []*metrics.Metric{
		{Name: "g", Data: &metrics.Metric_Gauge{Gauge: &metrics.Gauge{DataPoints: pts}}},
	}}}})
	res, err := s.ApplyOTLP(otlptest.Marshal(req), "v", Writer{})
	if err != nil || res.Rejected != 0 || res.Points != int64(len(pts)) {
		t.Fatalf("otlp: %+v %v", res, err)
	}
	var series []otlptest.RWSeries
	for i, v := range values {
		series = append(series, otlptest.RWSeries{Labels: [][2]string{{"__name__", "g"}, {"i", fmt.Sprint(i)}}, Samples: []float64{v}})
	}
	res, err = s.ApplyRemoteWrite(otlptest.RemoteWrite(series...), "rv", Writer{})
	if err != nil || res.Rejected != 0 || res.Points != int64(len(values)) {
		t.Fatalf("rw: %+v %v", res, err)
	}
	for id, want := range map[string]int64{"v": int64(len(pts)), "rv": int64(len(values))} {
		st := tr.Stream(id)
		if got := st.Snapshot().Report(1).ActiveSeries; got != want {
			t.Errorf("%s: %d series, want %d", id, got, want)
		}
		st.Sweep(now.Add(2 * time.Minute))
		if got := st.Snapshot().Report(1).ActiveSeries; got != 0 {
			t.Errorf("%s: %d series active after the staleness window despite far-future timestamps", id, got)
		}
	}
}
