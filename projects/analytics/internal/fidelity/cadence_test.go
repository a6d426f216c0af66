package fidelity

import (
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// TestCadence: a series counts while it reports, and stops counting about
// one of its own intervals (plus slack) after its last report, long before
// the tracker's staleness window.
func TestCadence(t *testing.T) {
	tests := []struct {
		name     string
		every    time.Duration // the series' reporting interval
		stopAt   time.Duration // when it stops reporting
		ticks    int           // 10 s ticks
		freshFor []bool        // the reporting check at each tick
	}{
		{name: "5 s reports, stops at 30 s", every: 5 * time.Second, stopAt: 30 * time.Second, ticks: 6,
			freshFor: []bool{true, true, true, false, false, false}},
		{name: "reports once", every: time.Hour, stopAt: time.Second * 2, ticks: 8,
			freshFor: []bool{true, false, false, false, false, false, false, false}},
		// Until its interval is known (its second report), a slow series
		// counts only in the window it reported in.
		{name: "30 s reports, never stops", every: 30 * time.Second, stopAt: time.Hour, ticks: 9,
			freshFor: []bool{true, false, false, true, true, true, true, true, true}},
		{name: "10 s reports, stops at 40 s", every: 10 * time.Second, stopAt: 40 * time.Second, ticks: 7,
			freshFor: []bool{true, true, true, true, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: t0}
			tr := cardinality.New(cardinality.Limits{Staleness: 5 * time.Minute}, clk.Now)
			body := otlptest.Marshal(otlptest.Request(otlptest.RM(
				[]*common.KeyValue{otlptest.KV("host.name", "h")}, otlptest.Sum("c", 1, nil))))
			c := cadence{}
			var prev time.Time
			next := t0.Add(time.Second)
			for i := range tt.ticks {
				tick := t0.Add(time.Duration(i+1) * 10 * time.Second)
				for ; !next.After(tick); next = next.Add(tt.every) {
					if next.Sub(t0) >= tt.stopAt {
						continue
					}
					clk.now = next
					b := tr.Batch("s", "")
					if err := otlpwire.Walk(body, b); err != nil {
						t.Fatal(err)
					}
					b.Done()
				}
				clk.now = tick
				sn := tr.Stream("s").SnapshotMetrics([]string{"c"})
				if len(sn.Series) != 1 {
					t.Fatalf("tick %d: %d series", i, len(sn.Series))
				}
				if got := c.freshFunc(sn, tick, prev)(sn.Series[0]); got != tt.freshFor[i] {
					t.Errorf("tick %d (%s, age %ds): fresh = %v, want %v", i, tick.Sub(t0), sn.Series[0].Age, got, tt.freshFor[i])
				}
				prev = tick
			}
		})
	}
}
