package cardinality

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func bigReport(metrics, labels, top, valueBytes int) apiv1.CardinalityReport {
	rep := apiv1.CardinalityReport{Stream: "s", Exact: true}
	for i := range metrics {
		m := apiv1.MetricCardinality{Name: fmt.Sprintf("m%05d", i), Type: "gauge", Series: int64(metrics - i)}
		for j := range labels {
			l := apiv1.LabelCardinality{Name: fmt.Sprintf("l%d", j), Scope: "datapoint", DistinctValues: int64(top)}
			for k := range top {
				l.TopValues = append(l.TopValues, apiv1.ValueCount{Value: fmt.Sprintf("%d", k) + strings.Repeat("v", valueBytes), Series: 1})
			}
			m.Labels = append(m.Labels, l)
		}
		rep.Metrics = append(rep.Metrics, m)
	}
	return rep
}

// TestFitReport: replies over the bus limit are cut to fit, keep the
// metrics with the most series, say so, and leave the cached report alone.
func TestFitReport(t *testing.T) {
	const limit = 1 << 20
	cases := []struct {
		name      string
		rep       apiv1.CardinalityReport
		truncated bool
		minKept   int
	}{
		{"small", bigReport(10, 3, 10, 10), false, 10},
		{"many metrics", bigReport(10_000, 5, 10, 20), true, 100},
		{"one huge metric", bigReport(1, 128, 20, 4096), true, 1},
		{"huge metrics", bigReport(3, 64, 10, 4096), true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := json.Marshal(c.rep)
			got := FitReport(c.rep, limit)
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > limit {
				t.Fatalf("%d bytes, over %d", len(b), limit)
			}
			if got.Truncated != c.truncated || c.truncated && !strings.Contains(got.TruncatedReason, "metrics are listed") {
				t.Fatalf("truncated %v %q", got.Truncated, got.TruncatedReason)
			}
			if len(got.Metrics) < c.minKept || got.Metrics[0].Name != c.rep.Metrics[0].Name {
				t.Fatalf("kept %d metrics, first %s", len(got.Metrics), got.Metrics[0].Name)
			}
			if after, _ := json.Marshal(c.rep); string(after) != string(before) {
				t.Fatal("the input report was modified")
			}
		})
	}
}
