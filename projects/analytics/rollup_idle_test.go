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

// TestIdleStreamStopsWritingRollups (issue 14 §2): a stream that received
// nothing in an interval writes one empty rollup, so the drop to zero is on
// record, then no more rows until data arrives again; a busy stream beside
// it writes a row every interval.
func TestIdleStreamStopsWritingRollups(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	const idle, busy = "exp9--idle", "exp9--busy"

	// pass says which of the two streams a pass stored, with datapoints.
	pass := func() map[string]int64 {
		t.Helper()
		h.send(t, busy, otlptest.ProcessFleet(0, 5, 5))
		got := map[string]int64{}
		for _, r := range h.svc.RollupNow(ctx) {
			if r.Stream == idle || r.Stream == busy {
				got[r.Stream] = r.Datapoints
			}
		}
		return got
	}
	steps := []struct {
		name     string
		send     bool // data for the idle stream in this interval
		wantRow  bool // a rollup row for it
		wantData bool // with datapoints
	}{
		{"data arrived: a row", true, true, true},
		{"first empty interval: one empty row", false, true, false},
		{"still idle: no row", false, false, false},
		{"still idle: still no row", false, false, false},
		{"data again: a row", true, true, true},
		{"empty again: one empty row", false, true, false},
		{"idle again: no row", false, false, false},
	}
	wantRows := 0
	for i, st := range steps {
		if st.send {
			h.send(t, idle, otlptest.ProcessFleet(0, 10, 10))
		}
		got := pass()
		n, ok := got[idle]
		if ok != st.wantRow || (n > 0) != st.wantData {
			t.Fatalf("step %d (%s): idle stream row %v with %d datapoints, want row %v, with data %v", i, st.name, ok, n, st.wantRow, st.wantData)
		}
		if _, ok := got[busy]; !ok {
			t.Fatalf("step %d (%s): the busy stream wrote no row", i, st.name)
		}
		if st.wantRow {
			wantRows++
		}
	}

	// The store holds exactly the rows the passes returned.
	var rl apiv1.List[apiv1.Rollup]
	q := url.Values{"from": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "to": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}}
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamRollups"), alice, map[string]string{"stream": idle}, q, &rl); err != nil {
		t.Fatal(err)
	}
	if len(rl.Items) != wantRows {
		t.Fatalf("stored rollups for the idle stream: %d, want %d", len(rl.Items), wantRows)
	}
}
