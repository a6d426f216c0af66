package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func TestRuleExploded(t *testing.T) {
	r := Rule{Pct: 50, Series: 1000, Windows: 2}
	for _, c := range []struct {
		base, cur float64
		want      bool
	}{
		{2000, 3000, true},    // +50 %, +1,000: both thresholds exactly
		{2000, 2999, false},   // +999
		{10000, 14000, false}, // +4,000 but +40 %
		{100, 1050, false},    // +950 %, +950 series
		{0, 1000, true},       // a new stream born big
		{5000, 4000, false},   // shrinking
	} {
		if got := r.Exploded(c.base, c.cur); got != c.want {
			t.Errorf("Exploded(%v, %v) = %v, want %v", c.base, c.cur, got, c.want)
		}
	}
}

func rollup(stream string, at time.Time, active int64) apiv1.Rollup {
	return apiv1.Rollup{Stream: stream, Start: at, End: at.Add(time.Minute), ActiveSeries: active, Datapoints: active * 6, Bytes: active * 240, NewSeries: 12}
}

func TestObserveSignalsAndExplosion(t *testing.T) {
	d, err := New(Settings{Signals: []string{ActiveSeries, NewSeriesPerMin, DPPerS, BytesPerS}, MaxSeries: 8, WarmupPoints: 10,
		Rule: Rule{Pct: 50, Series: 1000, Windows: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	obs, ok := d.Observe(rollup("s", t0, 2000))
	if !ok {
		t.Fatal("refused")
	}
	want := map[string]float64{ActiveSeries: 2000, NewSeriesPerMin: 12, DPPerS: 200, BytesPerS: 8000}
	for sig, v := range want {
		if obs.Values[sig] != v {
			t.Errorf("%s = %v, want %v", sig, obs.Values[sig], v)
		}
	}
	// Growth over two windows counts from the lowest of them.
	seq := []struct {
		active int64
		base   float64 // 0: no explosion
	}{{2000, 0}, {2600, 0}, {3100, 2000}, {3100, 0}, {3200, 0}, {5000, 3100}}
	for i, s := range seq {
		obs, _ := d.Observe(rollup("s", t0.Add(time.Duration(i+1)*time.Minute), s.active))
		switch {
		case s.base == 0 && obs.Explosion != nil:
			t.Errorf("step %d (%d): explosion %+v, want none", i, s.active, obs.Explosion)
		case s.base != 0 && (obs.Explosion == nil || obs.Explosion.Baseline != s.base):
			t.Errorf("step %d (%d): explosion %+v, want from %v", i, s.active, obs.Explosion, s.base)
		}
	}
	// A rollup without duration is not a point.
	if _, ok := d.Observe(apiv1.Rollup{Stream: "s", Start: t0, End: t0}); ok {
		t.Error("zero-length rollup observed")
	}
	// Room for two streams of four signals: the third is refused.
	d.Observe(rollup("t", t0, 1))
	if _, ok := d.Observe(rollup("u", t0, 1)); ok {
		t.Error("third stream admitted beyond max_series")
	}
	if st := d.Stats(); st.Streams != 2 || st.Refused != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSnapshotRestore(t *testing.T) {
	s := Settings{Signals: []string{ActiveSeries, DPPerS}, MaxSeries: 10, Rule: Rule{Pct: 50, Series: 1000, Windows: 2}}
	a, _ := New(s)
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		a.Observe(rollup("s", t0.Add(time.Duration(i)*time.Minute), int64(2000+i%7)))
	}
	snap, err := a.Snapshot()
	if err != nil || len(snap) != 2 {
		t.Fatalf("snapshot: %d series, %v", len(snap), err)
	}
	a.MarkSaved(snap)
	if again, _ := a.Snapshot(); len(again) != 0 {
		t.Errorf("unchanged series snapshotted again: %d", len(again))
	}
	b, _ := New(s)
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	// Both continue identically, explosion lookback included.
	for i, v := range []int64{2003, 2001, 9000} {
		at := t0.Add(time.Duration(300+i) * time.Minute)
		oa, _ := a.Observe(rollup("s", at, v))
		ob, _ := b.Observe(rollup("s", at, v))
		if oa.Scores[ActiveSeries] != ob.Scores[ActiveSeries] || (oa.Explosion == nil) != (ob.Explosion == nil) {
			t.Fatalf("point %d: original %+v, restored %+v", i, oa, ob)
		}
	}
	if b.Points("s", ActiveSeries) != 303 {
		t.Errorf("restored points %d, want 303", b.Points("s", ActiveSeries))
	}
	snap[0].State = []byte("garbage")
	c, _ := New(s)
	if err := c.Restore(snap); err == nil || !strings.Contains(err.Error(), "restore s/") {
		t.Errorf("corrupt state: %v", err)
	}
}

func report(active int64, metrics ...apiv1.MetricCardinality) *apiv1.CardinalityReport {
	return &apiv1.CardinalityReport{Stream: "s", ActiveSeries: active, Metrics: metrics}
}

func metric(name string, series int64, labels map[string]int64) apiv1.MetricCardinality {
	m := apiv1.MetricCardinality{Name: name, Series: series}
	for l, n := range labels {
		m.Labels = append(m.Labels, apiv1.LabelCardinality{Name: l, DistinctValues: n})
	}
	return m
}

func TestAttribute(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	before := report(1100,
		metric("http.server.duration", 1000, map[string]int64{"http.route": 40, "status": 5}),
		metric("process.cpu.time", 100, map[string]int64{"host.name": 20}))
	before.Time = t0
	cases := []struct {
		name          string
		prev, cur     *apiv1.CardinalityReport
		metric, label string
		summary       string
		ok            bool
	}{
		{
			name: "a new label on one metric",
			prev: before,
			cur: report(14_700,
				metric("http.server.duration", 13_400, map[string]int64{"http.route": 40, "status": 5, "request_id": 12_400}),
				metric("process.cpu.time", 1_300, map[string]int64{"host.name": 21})),
			metric: "http.server.duration", label: "request_id", ok: true,
			summary: "label request_id on http.server.duration: +12,400 values in 5m0s, 91% of new series",
		},
		{
			name: "an existing label grows on a new metric",
			prev: before,
			cur: report(3_100,
				metric("http.server.duration", 1000, map[string]int64{"http.route": 40, "status": 5}),
				metric("process.cpu.time", 100, map[string]int64{"host.name": 20}),
				metric("queue.depth", 2000, map[string]int64{"queue": 2000})),
			metric: "queue.depth", label: "queue", ok: true,
			summary: "label queue on queue.depth: +2,000 values in 5m0s, 100% of new series",
		},
		{
			name:   "no baseline: growth from zero",
			cur:    report(5000, metric("a", 5000, map[string]int64{"pod": 50, "trace_id": 4000})),
			metric: "a", label: "trace_id", ok: true,
			summary: "label trace_id on a: +4,000 values, 100% of new series",
		},
		{
			name: "nothing grew",
			prev: before, cur: before,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur := *c.cur
			cur.Time = t0.Add(5 * time.Minute)
			got, ok := Attribute(c.prev, cur)
			if ok != c.ok || got.Metric != c.metric || got.Label != c.label {
				t.Fatalf("got %s/%s %v, want %s/%s %v", got.Metric, got.Label, ok, c.metric, c.label, c.ok)
			}
			if ok && got.Summary() != c.summary {
				t.Errorf("summary %q\n want %q", got.Summary(), c.summary)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 12400: "12,400", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestIdleStreamMakesRoom: when full, a stream idle for IdleAfter gives its
// room to a new one; a recently seen one does not.
func TestIdleStreamMakesRoom(t *testing.T) {
	d, _ := New(Settings{Signals: []string{ActiveSeries}, MaxSeries: 2, IdleAfter: time.Hour, Rule: Rule{Pct: 50, Series: 1000, Windows: 2}})
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	d.Observe(rollup("old", t0, 1))
	d.Observe(rollup("busy", t0.Add(50*time.Minute), 1))
	if _, ok := d.Observe(rollup("new", t0.Add(30*time.Minute), 1)); ok {
		t.Fatal("admitted while every stream was seen within the hour")
	}
	obs, ok := d.Observe(rollup("new", t0.Add(90*time.Minute), 1))
	if !ok || obs.Evicted != "old" {
		t.Fatalf("admitted %v, evicted %q; want old evicted", ok, obs.Evicted)
	}
	if d.Points("old", ActiveSeries) != 0 || d.Points("new", ActiveSeries) != 1 || d.Stats().Refused != 1 {
		t.Errorf("after eviction: old %d points, new %d, stats %+v", d.Points("old", ActiveSeries), d.Points("new", ActiveSeries), d.Stats())
	}
}
