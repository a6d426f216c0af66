// Package rollup stores each stream's periodic summaries (apiv1.Rollup) in
// the store, downsamples them past their retention, and answers range
// queries at a requested step. Rollups carry HyperLogLog sketches, so rows
// from several analytics replicas, or several intervals, merge into one
// distinct-series count.
package rollup

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/hll"
)

//go:embed migrations
var migrations embed.FS

// Store persists rollups.
type Store struct {
	db *database.Store
}

// Open applies the analytics migrations and returns the store.
func Open(ctx context.Context, db *database.Store) (*Store, error) {
	if _, err := db.Migrate(ctx, "analytics", migrations); err != nil {
		return nil, fmt.Errorf("rollup store: %w", err)
	}
	return &Store{db: db}, nil
}

// Save upserts rollups at the given resolution.
func (s *Store) Save(ctx context.Context, resolution time.Duration, rs ...apiv1.Rollup) error {
	q := s.db.Rebind(`INSERT INTO analytics_rollups
		(stream, resolution_s, start_ms, end_ms, active_series, exact, datapoints, bytes, new_series, metric_series, hll)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream, resolution_s, start_ms) DO UPDATE SET
		end_ms = excluded.end_ms, active_series = excluded.active_series, exact = excluded.exact,
		datapoints = excluded.datapoints, bytes = excluded.bytes, new_series = excluded.new_series,
		metric_series = excluded.metric_series, hll = excluded.hll`)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, r := range rs {
			ms, err := json.Marshal(r.MetricSeries)
			if err != nil {
				return fmt.Errorf("encode rollup: %w", err)
			}
			exact := 0
			if r.Exact {
				exact = 1
			}
			if _, err := tx.ExecContext(ctx, q, r.Stream, int64(resolution/time.Second), r.Start.UnixMilli(), r.End.UnixMilli(),
				r.ActiveSeries, exact, r.Datapoints, r.Bytes, r.NewSeries, string(ms), r.HLL); err != nil {
				return fmt.Errorf("save rollup %s: %w", r.Stream, err)
			}
		}
		return nil
	})
}

// Query returns a stream's rollups starting in [from, to), at the finest
// resolution stored for each time, merged into step-sized buckets (step 0
// keeps rows as stored). At most limit buckets are returned.
func (s *Store) Query(ctx context.Context, stream string, from, to time.Time, step time.Duration, limit int) ([]apiv1.Rollup, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT resolution_s, start_ms, end_ms, active_series, exact, datapoints,
		bytes, new_series, metric_series, hll FROM analytics_rollups
		WHERE stream = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms, resolution_s`),
		stream, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("query rollups: %w", err)
	}
	defer rows.Close()
	var out []apiv1.Rollup
	var lastEnd int64
	for rows.Next() {
		var res, start, end int64
		var exact int
		var ms string
		var r apiv1.Rollup
		if err := rows.Scan(&res, &start, &end, &r.ActiveSeries, &exact, &r.Datapoints, &r.Bytes, &r.NewSeries, &ms, &r.HLL); err != nil {
			return nil, fmt.Errorf("scan rollup: %w", err)
		}
		if start < lastEnd {
			continue // covered by a finer row already (mid-downsample)
		}
		lastEnd = end
		r.Stream, r.Start, r.End, r.Exact = stream, time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC(), exact == 1
		if err := json.Unmarshal([]byte(ms), &r.MetricSeries); err != nil {
			return nil, fmt.Errorf("decode rollup metrics: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query rollups: %w", err)
	}
	if step > 0 {
		out = Buckets(out, from, step)
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// Buckets merges rollups into step-aligned buckets.
func Buckets(rs []apiv1.Rollup, origin time.Time, step time.Duration) []apiv1.Rollup {
	var out []apiv1.Rollup
	var group []apiv1.Rollup
	var cur time.Time
	for _, r := range rs {
		b := origin.Add(r.Start.Sub(origin) / step * step)
		if len(group) > 0 && !b.Equal(cur) {
			out = append(out, Merge(group, cur, cur.Add(step)))
			group = group[:0]
		}
		cur = b
		group = append(group, r)
	}
	if len(group) > 0 {
		out = append(out, Merge(group, cur, cur.Add(step)))
	}
	return out
}

// Merge combines consecutive rollups of one stream (or one interval from
// several replicas): counters add up; active series is the distinct count
// of the merged sketches when every row has one (else the maximum level);
// per-metric series take the maximum.
func Merge(rs []apiv1.Rollup, start, end time.Time) apiv1.Rollup {
	out := apiv1.Rollup{Stream: rs[0].Stream, Start: start.UTC(), End: end.UTC(), Exact: true, MetricSeries: map[string]int64{}}
	var sk *hll.Sketch
	sketches := true
	for _, r := range rs {
		out.Datapoints += r.Datapoints
		out.Bytes += r.Bytes
		out.NewSeries += r.NewSeries
		out.ActiveSeries = max(out.ActiveSeries, r.ActiveSeries)
		out.Exact = out.Exact && r.Exact
		for m, n := range r.MetricSeries {
			out.MetricSeries[m] = max(out.MetricSeries[m], n)
		}
		var one hll.Sketch
		if len(r.HLL) == 0 || one.UnmarshalBinary(r.HLL) != nil {
			sketches = false
			continue
		}
		if sk == nil {
			sk = &one
		} else if sk.Merge(&one) != nil {
			sketches = false
		}
	}
	if len(rs) > 1 {
		if sketches && sk != nil {
			// Series seen across the merged span: a sketch estimate.
			out.ActiveSeries = max(out.ActiveSeries, int64(sk.Estimate()+0.5))
			out.Exact = false
		}
	}
	if sk != nil {
		out.HLL, _ = sk.MarshalBinary()
	}
	return out
}

// Compact downsamples rows older than keepRaw into downsample-sized rows
// and deletes downsampled rows older than keepDown.
func (s *Store) Compact(ctx context.Context, now time.Time, raw, keepRaw, downsample, keepDown time.Duration) error {
	cutoff := now.Add(-keepRaw).Truncate(downsample)
	streams, err := s.streamsBefore(ctx, int64(raw/time.Second), cutoff)
	if err != nil {
		return err
	}
	for _, st := range streams {
		rows, err := s.queryRes(ctx, st, int64(raw/time.Second), cutoff)
		if err != nil {
			return err
		}
		merged := Buckets(rows, time.Unix(0, 0).UTC(), downsample)
		if err := s.Save(ctx, downsample, merged...); err != nil {
			return err
		}
		if _, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`DELETE FROM analytics_rollups WHERE stream = ? AND resolution_s = ? AND start_ms < ?`),
			st, int64(raw/time.Second), cutoff.UnixMilli()); err != nil {
			return fmt.Errorf("prune rollups: %w", err)
		}
	}
	if _, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`DELETE FROM analytics_rollups WHERE resolution_s = ? AND start_ms < ?`),
		int64(downsample/time.Second), now.Add(-keepDown).UnixMilli()); err != nil {
		return fmt.Errorf("prune downsampled rollups: %w", err)
	}
	return nil
}

func (s *Store) streamsBefore(ctx context.Context, res int64, cutoff time.Time) ([]string, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT DISTINCT stream FROM analytics_rollups WHERE resolution_s = ? AND start_ms < ?`), res, cutoff.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list rollup streams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return nil, fmt.Errorf("list rollup streams: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

func (s *Store) queryRes(ctx context.Context, stream string, res int64, before time.Time) ([]apiv1.Rollup, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT start_ms, end_ms, active_series, exact, datapoints, bytes, new_series, metric_series, hll
		FROM analytics_rollups WHERE stream = ? AND resolution_s = ? AND start_ms < ? ORDER BY start_ms`), stream, res, before.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read rollups: %w", err)
	}
	defer rows.Close()
	var out []apiv1.Rollup
	for rows.Next() {
		var start, end int64
		var exact int
		var ms string
		r := apiv1.Rollup{Stream: stream}
		if err := rows.Scan(&start, &end, &r.ActiveSeries, &exact, &r.Datapoints, &r.Bytes, &r.NewSeries, &ms, &r.HLL); err != nil {
			return nil, fmt.Errorf("read rollups: %w", err)
		}
		r.Start, r.End, r.Exact = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC(), exact == 1
		_ = json.Unmarshal([]byte(ms), &r.MetricSeries)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b apiv1.Rollup) int { return cmp.Compare(a.Start.UnixMilli(), b.Start.UnixMilli()) })
	return out, rows.Err()
}
