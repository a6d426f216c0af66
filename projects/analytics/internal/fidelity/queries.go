package fidelity

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/usage"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/queryeval"
)

// Per-query fidelity: a query (as a dashboard or rule file writes it) is
// watched on both streams like an aggregate; at every tick the watcher
// evaluates it with queryeval over the stream's active series and the
// samples it kept of them (rate and increase need the past), and a
// comparison scores it per window.

// MaxQueries bounds the queries one comparison scores.
const MaxQueries = 200

// queryPrefix keeps query watches apart from aggregate watches of the
// same text.
const queryPrefix = "query\x00"

// queryState is what a query watch keeps between ticks: each matched
// series' labels and its samples back to the query's longest range.
type queryState struct {
	q      *queryeval.Query
	series map[uint64]*queryeval.Series // by metric and label-set identity
	names  map[string]string            // stream metric -> query metric name ("" = not used), cached
}

// queryNames says which query metric name, if any, a stream metric is:
// the same name, or one the Prometheus exporter would give it.
func (qs *queryState) queryName(m cardinality.MetricInfo) string {
	if n, ok := qs.names[m.Name]; ok {
		return n
	}
	n := ""
	if slices.Contains(qs.q.Metrics, m.Name) {
		n = m.Name
	} else {
		for _, pn := range usage.PromNames(m.Name, m.Type.String()) {
			if slices.Contains(qs.q.Metrics, pn) {
				n = pn
				break
			}
		}
	}
	if len(qs.names) < 10_000 {
		qs.names[m.Name] = n
	}
	return n
}

// seriesData is queryeval.Data over the kept series.
type seriesData map[string][]*queryeval.Series

func (d seriesData) Series(name string) []*queryeval.Series { return d[name] }

// sampleQuery updates qs from the snapshot (already restricted to its
// metrics) and evaluates the query as of now. maxSeries bounds the series
// kept; a stream with more leaves the window without values.
func sampleQuery(qs *queryState, sn *cardinality.Snapshot, now time.Time, maxSeries int) (map[string]float64, windowState, error) {
	if sn.Overflow > 0 {
		return nil, windowPartial, nil
	}
	keep := qs.q.MaxRange + time.Minute // a tick or two of slack past the range
	seen := make(map[uint64]bool, len(qs.series))
	data := seriesData{}
	for _, r := range sn.Series {
		mi := sn.Metrics[r.Metric]
		name := qs.queryName(mi)
		if name == "" {
			continue
		}
		id := sn.Sum(r) ^ mi.NameHash
		s := qs.series[id]
		if s == nil {
			if len(qs.series) >= maxSeries {
				return nil, windowTooWide, nil
			}
			b := labels.NewScratchBuilder(8)
			b.Add(labels.MetricName, name)
			sn.EachLabel(r, func(_ bool, k, v string) {
				b.Add(k, v)
				if pk := usage.PromLabel(k); pk != k {
					b.Add(pk, v)
				}
			})
			b.Sort()
			s = &queryeval.Series{Labels: b.Labels()}
			qs.series[id] = s
		}
		seen[id] = true
		s.Samples = append(s.Samples, queryeval.Sample{T: now, V: r.Value})
		drop := 0
		for drop < len(s.Samples)-1 && now.Sub(s.Samples[drop].T) > keep {
			drop++
		}
		s.Samples = slices.Delete(s.Samples, 0, drop)
		data[name] = append(data[name], s)
	}
	for id := range qs.series {
		if !seen[id] {
			delete(qs.series, id) // gone stale in the tracker
		}
	}
	res, err := queryeval.Eval(qs.q, now, data, queryeval.Limits{MaxSeries: maxSeries})
	if err != nil {
		return nil, windowOK, err
	}
	out := make(map[string]float64, len(res.Elems))
	for _, e := range res.Elems {
		if math.IsNaN(e.V) || math.IsInf(e.V, 0) {
			continue
		}
		out[queryeval.Key(e.Labels)] = e.V
	}
	return out, windowOK, nil
}

// compareQueries scores every query of the request on both streams and
// lists them worst first, the ones not evaluated last.
func compareQueries(rep apiv1.CompareReport, in Inputs) []apiv1.QueryResult {
	out := make([]apiv1.QueryResult, 0, len(in.Queries))
	for i, expr := range in.Queries {
		if i >= MaxQueries {
			out = append(out, apiv1.QueryResult{Expr: expr, NotEvaluatedReason: fmt.Sprintf("more than %d queries in one comparison", MaxQueries)})
			continue
		}
		out = append(out, compareQuery(rep, in, expr))
	}
	slices.SortStableFunc(out, func(a, b apiv1.QueryResult) int {
		switch {
		case a.Evaluated != b.Evaluated:
			if a.Evaluated {
				return -1
			}
			return 1
		case !a.Evaluated:
			return 0
		}
		if *a.MaxRelError != *b.MaxRelError {
			if *a.MaxRelError > *b.MaxRelError {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

func compareQuery(rep apiv1.CompareReport, in Inputs, expr string) apiv1.QueryResult {
	res := apiv1.QueryResult{Expr: expr}
	q, err := queryeval.Parse(expr)
	if err != nil {
		res.NotEvaluatedReason = err.Error()
		return res
	}
	wins, why := queryWindows(rep, in, expr, q)
	if len(wins) == 0 {
		res.NotEvaluatedReason = why
		return res
	}
	var maxErr, sumErr float64
	for _, w := range wins {
		if w.MaxRelError >= maxErr {
			res.Worst = w.worst
		}
		maxErr = math.Max(maxErr, w.MaxRelError)
		sumErr += w.MeanRelError
		res.Series = max(res.Series, w.Groups)
	}
	res.Windows = len(wins)
	mean := sumErr / float64(len(wins))
	res.Evaluated, res.MaxRelError, res.MeanRelError = true, &maxErr, &mean
	return res
}

// queryWindow is one scored window of a query.
type queryWindow struct {
	apiv1.AggregateWindow
	worst string
}

// queryWindows watches q on both streams and scores the windows in
// [From, To] where both have values; with none, why says so.
func queryWindows(rep apiv1.CompareReport, in Inputs, expr string, q *queryeval.Query) ([]queryWindow, string) {
	if in.Watcher == nil {
		return nil, "queries are evaluated per window only, and this comparison has no watcher"
	}
	key := queryPrefix + expr
	for _, stream := range []string{rep.Baseline, rep.Candidate} {
		if ok, why := in.Watcher.watchQuery(in.Now, in.Owner, stream, key, q); !ok {
			return nil, why
		}
	}
	bw, _ := in.Watcher.windowsOf(rep.Baseline, key, rep.From, rep.To)
	cw, _ := in.Watcher.windowsOf(rep.Candidate, key, rep.From, rep.To)
	cand := make(map[int64]*window, len(cw))
	for i := range cw {
		cand[cw[i].end.UnixNano()] = &cw[i]
	}
	var out []queryWindow
	var skipped struct{ noCand, empty, other int }
	for i := range bw {
		b := &bw[i]
		c := cand[b.end.UnixNano()]
		switch {
		case c == nil:
			skipped.noCand++
			continue
		case b.state != windowOK || c.state != windowOK:
			skipped.other++
			continue
		case len(b.groups.keys) == 0:
			skipped.empty++
			continue
		}
		mx, mean, worst := relErrorsWorst(b.groups, c.groups)
		out = append(out, queryWindow{apiv1.AggregateWindow{Start: b.start, End: b.end, Groups: len(b.groups.keys), MaxRelError: mx, MeanRelError: mean}, worst})
	}
	if len(out) > 0 {
		return out, ""
	}
	if len(bw) > 0 && skipped.empty == len(bw) {
		return nil, "the query's result on the baseline is empty in every window (no series of its metrics, or a rate over fewer than two samples)"
	}
	return nil, fmt.Sprintf("no window in range has values of both streams yet (values are recorded every rollup interval from the first comparison that asks; of %d baseline windows: %d without a candidate window, %d with an empty baseline result, %d over the series bound)",
		len(bw), skipped.noCand, skipped.empty, skipped.other)
}

// compareQueryAggregate answers an aggregate written as a query (rate,
// increase, or anything else of the subset that ParseAggregate does not
// take), per window like any aggregate.
func compareQueryAggregate(rep apiv1.CompareReport, in Inputs, expr string, q *queryeval.Query) apiv1.AggregateResult {
	res := apiv1.AggregateResult{Expr: expr, Basis: apiv1.BasisNone}
	wins, why := queryWindows(rep, in, expr, q)
	if len(wins) == 0 {
		res.BasisReason, res.UnknownReason = why, why
		return res
	}
	var maxErr, sumErr float64
	for _, w := range wins {
		res.Windows = append(res.Windows, w.AggregateWindow)
		res.Groups = max(res.Groups, w.Groups)
		maxErr = math.Max(maxErr, w.MaxRelError)
		sumErr += w.MeanRelError
	}
	mean := sumErr / float64(len(wins))
	res.MaxRelError, res.MeanRelError, res.Basis = &maxErr, &mean, apiv1.BasisWindows
	return res
}

// relErrorsWorst is relErrors that also names the worst group.
func relErrorsWorst(base, cand groupValues) (maxErr, mean float64, worst string) {
	var sum float64
	worst = base.keys[0]
	for i, k := range base.keys {
		e := relError(base.vals[i], cand, k)
		if e > maxErr {
			maxErr, worst = e, k
		}
		sum += e
	}
	return maxErr, sum / float64(len(base.keys)), worst
}

// relError is one group's error, as relErrors counts it.
func relError(b float64, cand groupValues, k string) float64 {
	c, ok := cand.find(k)
	switch {
	case !ok:
		return 1
	case b == 0 && c == 0:
		return 0
	case b == 0:
		return 1
	}
	return math.Abs(c-b) / math.Abs(b)
}

// watchQuery is WatchAs for a query.
func (w *Watcher) watchQuery(now time.Time, owner, stream, key string, q *queryeval.Query) (bool, string) {
	ok, why := w.WatchAs(now, owner, stream, key, Aggregate{})
	if !ok {
		return false, why
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.watches[watchKey{stream, key}]; wt != nil && wt.query == nil {
		wt.query = &queryState{q: q, series: map[uint64]*queryeval.Series{}, names: map[string]string{}}
	}
	return true, ""
}
