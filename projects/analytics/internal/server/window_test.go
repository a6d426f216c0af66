package server

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/rollup"
)

// TestWindowVolumeCountsQuietTime: a quiet stream stops writing rollups
// after one all-zero row, and a window's averages count the time after
// that row as zero, exactly as the all-zero rows written before did.
func TestWindowVolumeCountsQuietTime(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "a.db"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := rollup.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{store: st}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(stream string, i int, series, dp int64) apiv1.Rollup {
		return apiv1.Rollup{Stream: stream, Start: t0.Add(time.Duration(i) * 10 * time.Second),
			End: t0.Add(time.Duration(i+1) * 10 * time.Second), ActiveSeries: series, Datapoints: dp, Exact: true}
	}
	// "full": six intervals written out, the last three all zero (as
	// before); "sparse": the same stream writing one all-zero row only.
	for _, r := range []apiv1.Rollup{
		row("full", 0, 10, 100), row("full", 1, 10, 100), row("full", 2, 10, 0),
		row("full", 3, 0, 0), row("full", 4, 0, 0), row("full", 5, 0, 0),
		row("sparse", 0, 10, 100), row("sparse", 1, 10, 100), row("sparse", 2, 10, 0), row("sparse", 3, 0, 0),
		// "resumed": quiet for two intervals, then data again.
		row("resumed", 0, 10, 100), row("resumed", 1, 0, 0), row("resumed", 4, 10, 100), row("resumed", 5, 10, 100),
	} {
		if err := st.Save(ctx, 10*time.Second, r); err != nil {
			t.Fatal(err)
		}
	}
	to := t0.Add(60 * time.Second)
	tests := []struct {
		stream       string
		series, dpps float64
	}{
		{"full", 30.0 / 6, 200.0 / 60},
		{"sparse", 30.0 / 6, 200.0 / 60},
		{"resumed", 30.0 / 6, 300.0 / 60},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			v := s.windowVolume(ctx, tt.stream, t0, to)
			if v.ActiveSeries == nil || v.DPPerS == nil {
				t.Fatalf("no volume: %+v", v)
			}
			if math.Abs(*v.ActiveSeries-tt.series) > 1e-9 || math.Abs(*v.DPPerS-tt.dpps) > 1e-9 {
				t.Fatalf("series %v dp/s %v, want %v and %v", *v.ActiveSeries, *v.DPPerS, tt.series, tt.dpps)
			}
		})
	}
}
