package analytics_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestIdleStreamStopsWritingRollups (issue 14 §2): a stream writes rollups
// while data arrives or its series are still active; once quiet (nothing
// arrived, every series stale) it writes one all-zero rollup, then no more
// rows until data arrives again. A busy stream beside it writes a row
// every interval. Passes run at chosen times, so series go stale (after
// the 5-minute staleness window) without waiting.
func TestIdleStreamStopsWritingRollups(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	const idle, busy = "exp9--idle", "exp9--busy"
	t0 := time.Now()
	steps := []struct {
		name    string
		at      time.Duration // pass time after t0
		send    bool          // data for the idle stream before the pass
		wantRow bool          // a rollup row for it
		zero    bool          // all zero
	}{
		{"data arrived: a row", 10 * time.Second, true, true, false},
		{"nothing arrived, series still active: a row", 20 * time.Second, false, true, false},
		{"series stale: one all-zero row", 10 * time.Minute, false, true, true},
		{"quiet: no row", 10*time.Minute + 10*time.Second, false, false, false},
		{"still quiet: still no row", 10*time.Minute + 20*time.Second, false, false, false},
		{"data again: a row", 11 * time.Minute, true, true, false},
		{"quiet again: one all-zero row", 22 * time.Minute, false, true, true},
		{"quiet: no row again", 22*time.Minute + 10*time.Second, false, false, false},
	}
	wantRows := 0
	for i, st := range steps {
		if st.send {
			h.send(t, idle, otlptest.ProcessFleet(0, 10, 10))
		}
		h.send(t, busy, otlptest.ProcessFleet(0, 5, 5))
		got := map[string]apiv1.Rollup{}
		for _, r := range h.svc.RollupAt(ctx, t0.Add(st.at)) {
			got[r.Stream] = r
		}
		r, ok := got[idle]
		if ok != st.wantRow || ok && (r.ActiveSeries == 0 && r.Datapoints == 0) != st.zero {
			t.Fatalf("step %d (%s): row %v (%d series, %d datapoints), want row %v, all zero %v",
				i, st.name, ok, r.ActiveSeries, r.Datapoints, st.wantRow, st.zero)
		}
		if b, ok := got[busy]; !ok || b.Datapoints == 0 {
			t.Fatalf("step %d (%s): the busy stream wrote no row with data", i, st.name)
		}
		if st.wantRow {
			wantRows++
		}
	}

	// The store holds exactly the rows the passes returned.
	var rl apiv1.List[apiv1.Rollup]
	q := url.Values{"from": {t0.Add(-time.Hour).UTC().Format(time.RFC3339)}, "to": {t0.Add(time.Hour).UTC().Format(time.RFC3339)}}
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamRollups"), alice, map[string]string{"stream": idle}, q, &rl); err != nil {
		t.Fatal(err)
	}
	if len(rl.Items) != wantRows {
		t.Fatalf("stored rollups for the idle stream: %d, want %d", len(rl.Items), wantRows)
	}
}
