package rollup

import (
	"context"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/hll"
)

func stores(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	lite, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	if out["sqlite"], err = Open(ctx, lite); err != nil {
		t.Fatal(err)
	}
	pg, err := database.Open(ctx, testutil.FreshPostgres(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if out["postgres"], err = Open(ctx, pg); err != nil {
		t.Fatal(err)
	}
	return out
}

func sketch(from, to int) []byte {
	s := hll.New(12)
	for i := from; i < to; i++ {
		s.Add(uint64(i) * 0x9e3779b97f4a7c15)
	}
	b, _ := s.MarshalBinary()
	return b
}

func TestStoreQueryCompact(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rs []apiv1.Rollup
	for i := range 60 { // 10 minutes of 10 s rollups; series 0..99 then 50..149
		lo := 0
		if i >= 30 {
			lo = 50
		}
		rs = append(rs, apiv1.Rollup{Stream: "s", Start: t0.Add(time.Duration(i) * 10 * time.Second), End: t0.Add(time.Duration(i+1) * 10 * time.Second),
			ActiveSeries: 100, Exact: true, Datapoints: 1000, Bytes: 5000, NewSeries: 1, MetricSeries: map[string]int64{"m": 100}, HLL: sketch(lo, lo+100)})
	}
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := st.Save(ctx, 10*time.Second, rs...); err != nil {
				t.Fatal(err)
			}
			if err := st.Save(ctx, 10*time.Second, rs[0]); err != nil { // idempotent
				t.Fatal(err)
			}
			got, err := st.Query(ctx, "s", t0, t0.Add(time.Hour), 0, 0)
			if err != nil || len(got) != 60 || got[5].Datapoints != 1000 || got[5].MetricSeries["m"] != 100 {
				t.Fatalf("raw: %d rows %v", len(got), err)
			}
			got, err = st.Query(ctx, "s", t0, t0.Add(time.Hour), 5*time.Minute, 0)
			if err != nil || len(got) != 2 {
				t.Fatalf("5m step: %d %v", len(got), err)
			}
			if got[0].Datapoints != 30_000 || got[0].NewSeries != 30 {
				t.Errorf("bucket sums: %+v", got[0])
			}
			// Whole window: 150 distinct series by the merged sketch.
			all, _ := st.Query(ctx, "s", t0, t0.Add(time.Hour), time.Hour, 0)
			if n := all[0].ActiveSeries; n < 140 || n > 160 {
				t.Errorf("merged series %d, want about 150", n)
			}
			// Downsample everything older than 2 minutes before t0+10m.
			if err := st.Compact(ctx, t0.Add(10*time.Minute), 10*time.Second, 2*time.Minute, 5*time.Minute, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			got, _ = st.Query(ctx, "s", t0, t0.Add(time.Hour), 0, 0)
			var dp int64
			for _, r := range got {
				dp += r.Datapoints
			}
			if dp != 60_000 {
				t.Errorf("datapoints after compaction %d, want 60000 (%d rows)", dp, len(got))
			}
			// The cutoff (8 m, truncated to 5 m) turns the first 30 raw rows
			// into one 5 m row and keeps the last 30.
			if len(got) != 31 {
				t.Errorf("rows after compaction: %d, want 31", len(got))
			}
			if err := st.Compact(ctx, t0.Add(48*time.Hour), 10*time.Second, 2*time.Minute, 5*time.Minute, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			got, _ = st.Query(ctx, "s", t0, t0.Add(time.Hour), 0, 0)
			if len(got) != 0 {
				t.Errorf("%d rows after retention", len(got))
			}
		})
	}
}
