package fidelity

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// A recording is what the watcher saw of a cumulative counter on a
// stream, tick by tick: one JSON line per active series per tick,
// {"t": tick end, "labels": {...}, "v": latest value}. Datapoint
// attributes are "state"; every other label is a resource attribute.
type recRow struct {
	T      time.Time         `json:"t"`
	Labels map[string]string `json:"labels"`
	V      float64           `json:"v"`
}

func readRecording(t *testing.T, path string) map[time.Time][]recRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[time.Time][]recRow{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r recRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out[r.T] = append(out[r.T], r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ingestRows sends rows as one OTLP request of sums named metric.
func ingestRows(t *testing.T, tr *cardinality.Tracker, stream, metric string, rows []recRow) {
	t.Helper()
	var rms []*metrics.ResourceMetrics
	for _, r := range rows {
		var res []*common.KeyValue
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.Labels {
				if !yield(k) {
					return
				}
			}
		}) {
			if k != "state" {
				res = append(res, otlptest.KV(k, r.Labels[k]))
			}
		}
		var dp []*common.KeyValue
		if s, ok := r.Labels["state"]; ok {
			dp = append(dp, otlptest.KV("state", s))
		}
		rms = append(rms, otlptest.RM(res, otlptest.Sum(metric, r.V, dp)))
	}
	b := tr.Batch(stream, "")
	if err := otlpwire.Walk(otlptest.Marshal(otlptest.Request(rms...)), b); err != nil {
		t.Fatal(err)
	}
	b.Done()
}

// replay feeds two recordings tick by tick, a second before each tick,
// as the tracker would have received them (only series whose value
// changed since their previous tick are sent: a series that stopped
// reporting keeps its last value, as in the tracker), samples the watcher
// at each tick and compares the expressions over every window.
func replay(t *testing.T, base, cand string, exprs []string) apiv1.CompareReport {
	t.Helper()
	b := readRecording(t, base)
	c := readRecording(t, cand)
	var ticks []time.Time
	for k := range b {
		ticks = append(ticks, k)
	}
	slices.SortFunc(ticks, func(x, y time.Time) int { return x.Compare(y) })
	clk := &clock{now: ticks[0].Add(-10 * time.Second)}
	tr := cardinality.New(cardinality.Limits{Staleness: 5 * time.Minute}, clk.Now)
	w := NewWatcher(WatchLimits{})
	rep := apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}
	if _, err := Compare(rep, Inputs{Aggregates: exprs, Watcher: w, Now: clk.now}); err != nil {
		t.Fatal(err)
	}
	last := map[string]map[string]float64{"e--baseline": {}, "e--candidate": {}}
	changed := func(stream string, rows []recRow) []recRow {
		var out []recRow
		for _, r := range rows {
			k := labelsKey(r.Labels)
			if v, ok := last[stream][k]; !ok || v != r.V {
				out = append(out, r)
			}
			last[stream][k] = r.V
		}
		return out
	}
	for _, tick := range ticks {
		clk.now = tick.Add(-time.Second)
		if rows := changed("e--baseline", b[tick]); len(rows) > 0 {
			ingestRows(t, tr, "e--baseline", "process.cpu.time", rows)
		}
		if rows := changed("e--candidate", c[tick]); len(rows) > 0 {
			ingestRows(t, tr, "e--candidate", "process.cpu.time", rows)
		}
		clk.now = tick
		w.Sample(tick, tr.Streams())
	}
	rep.From, rep.To = ticks[0], ticks[len(ticks)-1]
	out, err := Compare(rep, Inputs{Aggregates: exprs, Watcher: w, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func labelsKey(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		s += k + "=" + ls[k] + ","
	}
	return s
}
