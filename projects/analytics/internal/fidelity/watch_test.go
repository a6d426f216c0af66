package fidelity

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fleet is a stream's per-window gauge values: "mem" per host.
type fleet []map[string]float64

// clock is a settable time source for the tracker.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func ingest(t *testing.T, tr *cardinality.Tracker, stream string, hosts map[string]float64) {
	t.Helper()
	var rms [][]byte
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		rms = append(rms, otlptest.Marshal(otlptest.Request(otlptest.RM(
			[]*common.KeyValue{otlptest.KV("host.name", h), otlptest.KV("zone", "z"+h[len(h)-1:])},
			otlptest.Gauge("mem", hosts[h], nil)))))
	}
	for _, body := range rms {
		b := tr.Batch(stream, "")
		if err := otlpwire.Walk(body, b); err != nil {
			t.Fatal(err)
		}
		b.Done()
	}
}

// play feeds both streams window by window (data 1 s into each 10 s
// window, a 10 s staleness so a host not sent in a window is gone at its
// end) and samples the watcher at each window's end. The watches are
// registered by a first Compare at t0, as an experiment would at its start.
func play(t *testing.T, w *Watcher, tr *cardinality.Tracker, clk *clock, exprs []string, base, cand fleet) {
	t.Helper()
	clk.now = t0
	if _, err := Compare(apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}, Inputs{Aggregates: exprs, Watcher: w, Now: t0}); err != nil {
		t.Fatal(err)
	}
	for i := range max(len(base), len(cand)) {
		clk.now = t0.Add(time.Duration(i)*10*time.Second + time.Second)
		if i < len(base) && base[i] != nil {
			ingest(t, tr, "e--baseline", base[i])
		}
		if i < len(cand) && cand[i] != nil {
			ingest(t, tr, "e--candidate", cand[i])
		}
		clk.now = end(i)
		w.Sample(clk.now, tr.Streams())
	}
}

// end is window i's end.
func end(i int) time.Time { return t0.Add(time.Duration(i+1) * 10 * time.Second) }

type winWant struct {
	i         int // window index
	groups    int
	max, mean float64
}

func TestCompareWindows(t *testing.T) {
	ab := map[string]float64{"a": 10, "b": 30}
	cases := []struct {
		name       string
		expr       string
		base, cand fleet
		from, to   int // window indexes whose end bounds the range; -1 = open
		fromOffset time.Duration
		basis      string
		want       []winWant
		max, mean  float64
		reason     string // part of basis_reason when not per window
	}{
		{
			name: "the candidate drops a host in window 1", expr: `sum(mem) by ("host.name")`,
			base: fleet{ab, ab, ab}, cand: fleet{ab, {"a": 10}, ab}, from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{0, 2, 0, 0}, {1, 2, 1, 0.5}, {2, 2, 0, 0}}, max: 1, mean: 0.5 / 3,
		},
		{
			name: "a quarter off in one group", expr: `sum by (host.name) (mem)`,
			base: fleet{{"a": 10, "b": 20}, {"a": 10, "b": 20}}, cand: fleet{{"a": 10, "b": 20}, {"a": 10, "b": 25}},
			from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{0, 2, 0, 0}, {1, 2, 0.25, 0.125}}, max: 0.25, mean: 0.0625,
		},
		{
			name: "one group without grouping", expr: `sum(mem)`,
			base: fleet{ab, ab}, cand: fleet{{"a": 10}, ab}, from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{0, 1, 0.75, 0.75}, {1, 1, 0, 0}}, max: 0.75, mean: 0.375,
		},
		{
			name: "count and without", expr: `count without ("host.name") (mem)`,
			base: fleet{{"a1": 1, "b1": 1, "c2": 1, "d2": 1}}, cand: fleet{{"a1": 1, "c2": 1}},
			from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{0, 2, 0.5, 0.5}}, max: 0.5, mean: 0.5,
		},
		{
			name: "a window without baseline data is skipped", expr: `max(mem) by ("host.name")`,
			base: fleet{ab, nil, ab}, cand: fleet{ab, ab, {"a": 5, "b": 30}}, from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{0, 2, 0, 0}, {2, 2, 0.5, 0.25}}, max: 0.5, mean: 0.125,
		},
		{
			name: "a window before the candidate exists is skipped", expr: `avg(mem)`,
			base: fleet{ab, ab}, cand: fleet{nil, {"a": 20, "b": 20}}, from: -1, to: -1, basis: apiv1.BasisWindows,
			want: []winWant{{1, 1, 0, 0}}, max: 0, mean: 0,
		},
		{
			name: "from and to select windows by their end", expr: `sum(mem) by ("host.name")`,
			base: fleet{ab, ab, ab, ab}, cand: fleet{{"a": 10}, {"b": 30}, {"a": 5, "b": 30}, {}},
			from: 1, to: 2, basis: apiv1.BasisWindows,
			want: []winWant{{1, 2, 1, 0.5}, {2, 2, 0.5, 0.25}}, max: 1, mean: 0.375,
		},
		{
			name: "an empty candidate window counts every group", expr: `min(mem) by ("host.name")`,
			base: fleet{ab, ab}, cand: fleet{ab, {"c": 1}}, from: 1, to: 1, basis: apiv1.BasisWindows,
			want: []winWant{{1, 2, 1, 1}}, max: 1, mean: 1,
		},
		{
			name: "no window in range falls back to the latest values", expr: `sum(mem)`,
			// from is after the last window's end, before the latest values.
			base: fleet{ab, ab}, cand: fleet{{"a": 10}, {"a": 10}}, from: 1, fromOffset: 500 * time.Millisecond, to: -1, basis: apiv1.BasisLatest,
			max: 0.75, mean: 0.75, reason: "no window in range",
		},
		{
			name: "no baseline data in any window", expr: `sum(mem{"host.name"="a"})`,
			base: fleet{{"c": 1}, {"c": 1}}, cand: fleet{ab, ab}, from: -1, to: -1, basis: apiv1.BasisNone,
			reason: "2 without baseline series",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: t0}
			tr := cardinality.New(cardinality.Limits{Staleness: 10 * time.Second}, clk.Now)
			w := NewWatcher(WatchLimits{})
			play(t, w, tr, clk, []string{tc.expr}, tc.base, tc.cand)
			clk.now = clk.now.Add(time.Second) // compared a second after the last tick
			rep := apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}
			if tc.from >= 0 {
				rep.From = end(tc.from).Add(tc.fromOffset)
			}
			if tc.to >= 0 {
				rep.To = end(tc.to)
			}
			in := Inputs{Aggregates: []string{tc.expr}, Watcher: w, Now: clk.now}
			if st := tr.Stream("e--baseline"); st != nil {
				in.Baseline = st.Snapshot()
			}
			if st := tr.Stream("e--candidate"); st != nil {
				in.Candidate = st.Snapshot()
			}
			rep, err := Compare(rep, in)
			if err != nil {
				t.Fatal(err)
			}
			a := rep.Aggregates[0]
			if a.Basis != tc.basis {
				t.Fatalf("basis %q (%s %s), want %q", a.Basis, a.BasisReason, a.UnknownReason, tc.basis)
			}
			if tc.reason != "" && !strings.Contains(a.BasisReason, tc.reason) {
				t.Errorf("basis reason %q lacks %q", a.BasisReason, tc.reason)
			}
			if tc.basis == apiv1.BasisNone {
				if a.MaxRelError != nil || a.MeanRelError != nil || a.UnknownReason == "" {
					t.Errorf("unknown expected: %+v", a)
				}
				return
			}
			if a.MaxRelError == nil || math.Abs(*a.MaxRelError-tc.max) > 1e-12 || math.Abs(*a.MeanRelError-tc.mean) > 1e-12 {
				t.Errorf("overall %v %v, want %v %v", a.MaxRelError, a.MeanRelError, tc.max, tc.mean)
			}
			if len(a.Windows) != len(tc.want) {
				t.Fatalf("windows %+v, want %+v", a.Windows, tc.want)
			}
			for j, ww := range tc.want {
				got := a.Windows[j]
				start := end(ww.i).Add(-10 * time.Second)
				if ww.i == 0 {
					start = t0 // watched from the first comparison
				}
				if !got.End.Equal(end(ww.i)) || !got.Start.Equal(start) || got.Groups != ww.groups ||
					math.Abs(got.MaxRelError-ww.max) > 1e-12 || math.Abs(got.MeanRelError-ww.mean) > 1e-12 {
					t.Errorf("window %d: %+v, want %+v from %v", j, got, ww, start)
				}
			}
		})
	}
}

func TestCompareWindowsUnknown(t *testing.T) {
	clk := &clock{now: t0}
	tr := cardinality.New(cardinality.Limits{Staleness: 10 * time.Second}, clk.Now)
	ingest(t, tr, "e--baseline", map[string]float64{"a": 1})
	ingest(t, tr, "e--candidate", map[string]float64{"a": 1})
	snap := func(id string) *cardinality.Snapshot { return tr.Stream(id).Snapshot() }
	rep := apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		w        *Watcher
		basis    string
		reason   string
	}{
		{"first request: latest values, labelled", time.Time{}, time.Time{}, NewWatcher(WatchLimits{}), apiv1.BasisLatest, "no window in range has values of both streams yet"},
		{"no watcher: latest values", time.Time{}, time.Time{}, nil, apiv1.BasisLatest, "not recorded"},
		// The live series are all newer than a window that ended long ago.
		{"past window: unknown", time.Time{}, t0.Add(-time.Hour), NewWatcher(WatchLimits{}), apiv1.BasisNone, "newer than the window"},
		{"future window: unknown", t0.Add(time.Second), time.Time{}, NewWatcher(WatchLimits{}), apiv1.BasisNone, "starts after the latest values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rep
			r.From, r.To = tc.from, tc.to
			out, err := Compare(r, Inputs{Aggregates: []string{`sum(mem)`}, Watcher: tc.w, Now: t0, Baseline: snap("e--baseline"), Candidate: snap("e--candidate")})
			if err != nil {
				t.Fatal(err)
			}
			a := out.Aggregates[0]
			if a.Basis != tc.basis || !strings.Contains(a.BasisReason+a.UnknownReason, tc.reason) || a.BasisReason == "" {
				t.Errorf("%+v", a)
			}
			if (a.MaxRelError == nil) != (tc.basis == apiv1.BasisNone) {
				t.Errorf("max_rel_error %v with basis %s", a.MaxRelError, a.Basis)
			}
		})
	}
}

func TestWatcherBounds(t *testing.T) {
	ag, err := ParseAggregate(`sum(mem) by ("host.name")`)
	if err != nil {
		t.Fatal(err)
	}
	hosts := func(n int) map[string]float64 {
		m := map[string]float64{}
		for i := range n {
			m[fmt.Sprintf("h%d", i)] = float64(i + 1)
		}
		return m
	}
	type check func(t *testing.T, w *Watcher, tr *cardinality.Tracker)
	windows := func(stream string, n int, firstEnd int) check {
		return func(t *testing.T, w *Watcher, _ *cardinality.Tracker) {
			ws, ok := w.windowsOf(stream, "x", time.Time{}, time.Time{})
			if !ok || len(ws) != n || n > 0 && !ws[0].end.Equal(end(firstEnd)) {
				t.Errorf("%d windows (watched %v), want %d from window %d", len(ws), ok, n, firstEnd)
			}
		}
	}
	cases := []struct {
		name    string
		limits  WatchLimits
		exact   int // tracker's exact series per stream (0 = default)
		hosts   int
		ticks   int
		checks  []check
		state   windowState
		watches int // extra watches asked for after the first
	}{
		{name: "windows bound keeps the newest", limits: WatchLimits{MaxWindows: 3}, hosts: 2, ticks: 5, checks: []check{windows("s", 3, 2)}},
		{name: "values bound keeps the newest", limits: WatchLimits{MaxGroups: 4, MaxValues: 10}, hosts: 4, ticks: 5, checks: []check{windows("s", 2, 3)}},
		{name: "too many groups: kept without values", limits: WatchLimits{MaxGroups: 4}, hosts: 5, ticks: 1, state: windowTooWide, checks: []check{windows("s", 1, 0)}},
		{name: "series past the exact bound: partial", exact: 1, hosts: 2, ticks: 1, state: windowPartial, checks: []check{windows("s", 1, 0)}},
		{name: "watch bound refuses and counts", limits: WatchLimits{MaxWatches: 2}, hosts: 1, ticks: 1, watches: 2, checks: []check{
			func(t *testing.T, w *Watcher, _ *cardinality.Tracker) {
				if w.Len() != 2 || w.Refused()[RefusedWatchLimit] != 1 {
					t.Errorf("%d watches, %v refused", w.Len(), w.Refused())
				}
			}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: t0}
			tr := cardinality.New(cardinality.Limits{Staleness: 10 * time.Second, ExactSeriesPerStream: tc.exact}, clk.Now)
			w := NewWatcher(tc.limits)
			if ok, _ := w.Watch(t0, "s", "x", ag); !ok {
				t.Fatal("first watch refused")
			}
			for i := range tc.watches {
				ok, reason := w.Watch(t0, fmt.Sprintf("s%d", i), "x", ag)
				if ok == (i == tc.watches-1) || !ok && !strings.Contains(reason, "watched already") {
					t.Errorf("watch %d: %v %q", i, ok, reason)
				}
			}
			for i := range tc.ticks {
				clk.now = end(i).Add(-9 * time.Second)
				ingest(t, tr, "s", hosts(tc.hosts))
				clk.now = end(i)
				w.Sample(clk.now, tr.Streams())
			}
			for _, c := range tc.checks {
				c(t, w, tr)
			}
			ws, _ := w.windowsOf("s", "x", time.Time{}, time.Time{})
			total := 0
			for _, wn := range ws {
				total += len(wn.groups.keys)
				if wn.state != tc.state {
					t.Errorf("window state %d, want %d", wn.state, tc.state)
				}
			}
			w.mu.Lock()
			if held := w.watches[watchKey{"s", "x"}].values; held != total || held > w.limits.MaxValues {
				t.Errorf("values held %d, counted %d, bound %d", held, total, w.limits.MaxValues)
			}
			w.mu.Unlock()
		})
	}

	// Idle watches expire; asking again keeps one alive.
	w := NewWatcher(WatchLimits{MaxWatches: 1, Idle: time.Hour})
	w.Watch(t0, "a", "x", ag)
	w.Watch(t0.Add(50*time.Minute), "a", "x", ag)
	if ok, _ := w.Watch(t0.Add(100*time.Minute), "b", "x", ag); ok {
		t.Error("a watch asked for 50 minutes ago was dropped")
	}
	if ok, _ := w.Watch(t0.Add(111*time.Minute), "b", "x", ag); !ok {
		t.Error("an idle watch was not dropped for a new one")
	}
	w.Sample(t0.Add(200*time.Minute), nil)
	if w.Len() != 0 {
		t.Errorf("%d watches after idling", w.Len())
	}
}

func TestWatcherTooWideReason(t *testing.T) {
	clk := &clock{now: t0}
	tr := cardinality.New(cardinality.Limits{Staleness: 10 * time.Second}, clk.Now)
	w := NewWatcher(WatchLimits{MaxGroups: 1})
	ab := map[string]float64{"a": 1, "b": 2}
	play(t, w, tr, clk, []string{`sum(mem) by ("host.name")`}, fleet{ab}, fleet{ab})
	rep, err := Compare(apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"},
		Inputs{Aggregates: []string{`sum(mem) by ("host.name")`}, Watcher: w, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if a := rep.Aggregates[0]; a.Basis != apiv1.BasisNone || !strings.Contains(a.BasisReason, "1 with more than 1 groups") {
		t.Errorf("%+v", a)
	}
}

// TestWatcherPerOwnerBound: one caller cannot take every watch; others and
// internal callers still get theirs, and the refused caller's watches free
// up when they idle out.
func TestWatcherPerOwnerBound(t *testing.T) {
	ag, err := ParseAggregate(`sum(m) by (h)`)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(WatchLimits{MaxWatches: 10, MaxPerOwner: 3, Idle: time.Hour})
	steps := []struct {
		at            time.Duration
		owner, stream string
		ok            bool
		reason        string
	}{
		{0, "user:mallory", "s1", true, ""},
		{0, "user:mallory", "s2", true, ""},
		{0, "user:mallory", "s3", true, ""},
		{0, "user:mallory", "s4", false, "started 3 watched aggregates already"},
		{0, "user:mallory", "s1", true, ""}, // asking again for one it has is fine
		{0, "user:alice", "s4", true, ""},
		{0, "", "s5", true, ""}, // internal callers are not bounded per owner
		{2 * time.Hour, "user:mallory", "s6", true, ""},
	}
	for i, st := range steps {
		ok, reason := w.WatchAs(t0.Add(st.at), st.owner, st.stream, "x", ag)
		if ok != st.ok || !strings.Contains(reason, st.reason) {
			t.Errorf("step %d (%s on %s): %v %q, want %v %q", i, st.owner, st.stream, ok, reason, st.ok, st.reason)
		}
	}
	if got := w.Refused()[RefusedOwnerLimit]; got != 1 {
		t.Errorf("refused per owner: %d, want 1", got)
	}
}
