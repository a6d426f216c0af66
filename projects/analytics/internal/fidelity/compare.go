package fidelity

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/queryeval"
)

// Volume is a stream's level over the compared window.
type Volume struct {
	ActiveSeries *float64
	DPPerS       *float64
	BytesPerS    *float64
	Cost         *float64 // monthly, under the chosen model
	CostReason   string
	Reason       string // why the window has no data, when it has none
}

// Inputs are what Compare needs; snapshots carry the live series for
// critical retention and for aggregates no window has values for.
type Inputs struct {
	Baseline, Candidate       *cardinality.Snapshot
	BaselineVol, CandidateVol Volume
	Critical                  []string
	Aggregates                []string
	Queries                   []string // PromQL queries scored per window (per-query fidelity)
	// Watcher, when set, is asked to watch the aggregates on both streams
	// and answers their errors per window in the report's [From, To].
	Watcher *Watcher
	Owner   string    // who asks, for the watcher's per-caller bound ("" for internal callers)
	Now     time.Time // when the request is made (watch bookkeeping, the latest values' age)
}

// maxMissing bounds the examples of lost entities in an answer.
const maxMissing = 20

// Compare builds the report; rep carries names, window and model already.
// A malformed matcher or aggregate is an error (the caller answers 400).
func Compare(rep apiv1.CompareReport, in Inputs) (apiv1.CompareReport, error) {
	var crit [][]Matcher
	for _, c := range in.Critical {
		ms, err := ParseMatchers(c)
		if err != nil {
			return rep, fmt.Errorf("critical %q: %w", c, err)
		}
		crit = append(crit, ms)
	}
	// An aggregate is op(selector) by (...), or, for counters, any query
	// of the subset queryeval covers (sum by (h) (rate(x[1m]))).
	aggs := make([]Aggregate, len(in.Aggregates))
	aggQueries := make([]*queryeval.Query, len(in.Aggregates))
	for i, a := range in.Aggregates {
		ag, err := ParseAggregate(a)
		if err == nil {
			aggs[i] = ag
			continue
		}
		q, qerr := queryeval.Parse(a)
		if qerr != nil {
			return rep, fmt.Errorf("aggregate %q: %w", a, err)
		}
		aggQueries[i] = q
	}
	b, c := in.BaselineVol, in.CandidateVol
	rep.SeriesReduction, rep.SeriesReductionUnknownReason = reduction(b.ActiveSeries, c.ActiveSeries, "active series", b.Reason, c.Reason)
	rep.DPReduction, rep.DPReductionUnknownReason = reduction(b.DPPerS, c.DPPerS, "datapoint rate", b.Reason, c.Reason)
	rep.BytesReduction, rep.BytesReductionUnknownReason = reduction(b.BytesPerS, c.BytesPerS, "byte rate", b.Reason, c.Reason)
	rep.CostReduction, rep.CostReductionUnknownReason = reduction(b.Cost, c.Cost, "cost", firstNonEmpty(b.CostReason, b.Reason), firstNonEmpty(c.CostReason, c.Reason))

	rep.Critical = []apiv1.CriticalResult{}
	rep.Aggregates = []apiv1.AggregateResult{}
	if len(crit) > 0 {
		if in.Baseline == nil || in.Candidate == nil {
			rep.CriticalRetentionUnknownReason = "a stream has no live series to compare"
		} else {
			var total, kept int64
			for i, ms := range crit {
				r := criticalRetention(in.Baseline, in.Candidate, ms)
				r.Matcher = in.Critical[i]
				total += r.Baseline
				kept += r.Retained
				rep.Critical = append(rep.Critical, r)
			}
			if total == 0 {
				rep.CriticalRetentionUnknownReason = "no critical entity matched in the baseline"
			} else {
				v := float64(kept) / float64(total)
				rep.CriticalRetention = &v
			}
		}
	}
	for i, ag := range aggs {
		if q := aggQueries[i]; q != nil {
			rep.Aggregates = append(rep.Aggregates, compareQueryAggregate(rep, in, in.Aggregates[i], q))
			continue
		}
		rep.Aggregates = append(rep.Aggregates, compareAggregate(rep, in, in.Aggregates[i], ag))
	}
	if len(in.Queries) > 0 {
		rep.Queries = compareQueries(rep, in)
	}
	return rep, nil
}

// compareAggregate answers one aggregate: per window when the watcher
// holds windows of both streams in [From, To], else on the latest values
// when they fall in that range, else unknown.
func compareAggregate(rep apiv1.CompareReport, in Inputs, expr string, ag Aggregate) apiv1.AggregateResult {
	res := apiv1.AggregateResult{Expr: expr, Basis: apiv1.BasisNone}
	why := "per-window values are not recorded"
	if in.Watcher != nil {
		okB, reasonB := in.Watcher.WatchAs(in.Now, in.Owner, rep.Baseline, expr, ag)
		okC, reasonC := in.Watcher.WatchAs(in.Now, in.Owner, rep.Candidate, expr, ag)
		switch {
		case !okB:
			why = reasonB
		case !okC:
			why = reasonC
		default:
			if windowErrors(&res, in.Watcher, rep, expr) {
				return res
			}
			why = res.BasisReason
		}
	}
	res.BasisReason = why
	switch {
	case in.Baseline == nil || in.Candidate == nil:
		res.UnknownReason = why + "; a stream has no live series to compare"
		return res
	case !rep.To.IsZero() && rep.To.Before(in.Baseline.Time.Add(-in.Baseline.Staleness)):
		res.UnknownReason = why + "; the latest values are all newer than the window"
		return res
	case rep.From.After(in.Baseline.Time):
		res.UnknownReason = why + "; the window starts after the latest values"
		return res
	}
	aggregateError(&res, ag, in.Baseline, in.Candidate)
	if res.MaxRelError != nil {
		res.Basis = apiv1.BasisLatest
	} else {
		res.UnknownReason = why + "; " + res.UnknownReason
	}
	return res
}

// windowErrors fills res from the windows where both streams have values,
// and reports whether there was one; otherwise res.BasisReason says why.
func windowErrors(res *apiv1.AggregateResult, w *Watcher, rep apiv1.CompareReport, expr string) bool {
	bw, _ := w.windowsOf(rep.Baseline, expr, rep.From, rep.To)
	cw, _ := w.windowsOf(rep.Candidate, expr, rep.From, rep.To)
	if len(bw) == 0 || len(cw) == 0 {
		res.BasisReason = "no window in range has values of both streams yet (values are recorded every rollup interval from the first comparison that asks for an aggregate)"
		return false
	}
	// Both streams' windows end at the same ticks (one Sample call).
	cand := make(map[int64]*window, len(cw))
	for i := range cw {
		cand[cw[i].end.UnixNano()] = &cw[i]
	}
	var skipped struct{ noBase, noCand, tooWide, partial int }
	var maxErr, sumErr float64
	for i := range bw {
		b := &bw[i]
		c := cand[b.end.UnixNano()]
		switch {
		case c == nil:
			skipped.noCand++
			continue
		case b.state == windowTooWide || c.state == windowTooWide:
			skipped.tooWide++
			continue
		case b.state == windowPartial || c.state == windowPartial:
			skipped.partial++
			continue
		case len(b.groups.keys) == 0:
			skipped.noBase++
			continue
		}
		mx, mean := relErrors(b.groups, c.groups)
		res.Windows = append(res.Windows, apiv1.AggregateWindow{
			Start: b.start, End: b.end, Groups: len(b.groups.keys), MaxRelError: mx, MeanRelError: mean,
		})
		res.Groups = max(res.Groups, len(b.groups.keys))
		maxErr = math.Max(maxErr, mx)
		sumErr += mean
	}
	if len(res.Windows) == 0 {
		res.BasisReason = fmt.Sprintf("no window in range has values of both streams (of %d baseline windows: %d without a candidate window, %d without baseline series, %d with more than %d groups, %d of a stream past its exact series bound)",
			len(bw), skipped.noCand, skipped.noBase, skipped.tooWide, w.limits.MaxGroups, skipped.partial)
		return false
	}
	mean := sumErr / float64(len(res.Windows))
	res.MaxRelError, res.MeanRelError = &maxErr, &mean
	res.Basis = apiv1.BasisWindows
	return true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func reduction(base, cand *float64, what, baseReason, candReason string) (*float64, string) {
	switch {
	case base == nil:
		return nil, "baseline " + what + " unknown: " + firstNonEmpty(baseReason, "not measured")
	case cand == nil:
		return nil, "candidate " + what + " unknown: " + firstNonEmpty(candReason, "not measured")
	case *base == 0:
		return nil, "baseline " + what + " is zero: no data to compare against"
	}
	v := 1 - *cand / *base
	return &v, ""
}

func matchAll(sn *cardinality.Snapshot, r cardinality.SeriesRef, ms []Matcher) bool {
	for i := range ms {
		m := &ms[i]
		if m.Name == "__name__" {
			if !m.Matches(sn.Metrics[r.Metric].Name) {
				return false
			}
			continue
		}
		v, _ := sn.Label(r, m.Name)
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

// criticalRetention: an entity is a distinct resource (for OTLP, e.g. a
// process) with a series matching the matchers in the baseline. It is
// retained when the candidate has a resource with the same values for every
// resource key the candidate still carries, none of them `_other_`, and no
// other baseline entity maps to the same values (it stayed distinguishable).
func criticalRetention(base, cand *cardinality.Snapshot, ms []Matcher) apiv1.CriticalResult {
	// Resource labels are per resource set, and a set is shared by all its
	// series (a process's ten or so): visit each set once, through one of
	// its series, rather than every series.
	reps := map[uint32]cardinality.SeriesRef{}
	for _, r := range cand.Series {
		if _, ok := reps[r.Res]; !ok {
			reps[r.Res] = r
		}
	}
	candKeys := map[string]bool{}
	for _, r := range reps {
		cand.EachLabel(r, func(resource bool, k, _ string) {
			if resource {
				candKeys[k] = true
			}
		})
	}
	candRes := make(map[string]bool, len(reps))
	for _, r := range reps {
		candRes[projection(cand, r, candKeys)] = true
	}
	entities := map[uint32]string{} // baseline resource set -> projection
	for _, r := range base.Series {
		if _, ok := entities[r.Res]; ok || !matchAll(base, r, ms) {
			continue
		}
		entities[r.Res] = projection(base, r, candKeys)
	}
	perProjection := map[string]int{}
	for _, p := range entities {
		perProjection[p]++
	}
	res := apiv1.CriticalResult{Baseline: int64(len(entities))}
	for _, p := range entities {
		if candRes[p] && perProjection[p] == 1 && !strings.Contains(p, "=_other_\x00") {
			res.Retained++
		} else if len(res.Missing) < maxMissing {
			res.Missing = append(res.Missing, strings.ReplaceAll(strings.TrimSuffix(p, "\x00"), "\x00", ","))
		}
	}
	slices.Sort(res.Missing)
	return res
}

// projection renders a series' resource labels restricted to keys, sorted.
func projection(sn *cardinality.Snapshot, r cardinality.SeriesRef, keys map[string]bool) string {
	var kv []string
	sn.EachLabel(r, func(resource bool, k, v string) {
		if resource && keys[k] {
			kv = append(kv, k+"="+v)
		}
	})
	slices.Sort(kv)
	return strings.Join(kv, "\x00") + "\x00"
}

type aggState struct {
	sum, min, max float64
	n             int
}

// evalAggregate evaluates ag over the snapshot's series; fresh, when not
// nil, says which of them count (the watcher's reporting check).
func evalAggregate(sn *cardinality.Snapshot, ag Aggregate, fresh func(cardinality.SeriesRef) bool) map[string]float64 {
	groups := map[string]*aggState{}
	grouping := map[string]bool{}
	for _, g := range ag.Grouping {
		grouping[g] = true
	}
	for _, r := range sn.Series {
		if sn.Metrics[r.Metric].Name != ag.Metric || !matchAll(sn, r, ag.Matchers) || math.IsNaN(r.Value) {
			continue
		}
		if fresh != nil && !fresh(r) {
			continue
		}
		var key []string
		if ag.Without {
			sn.EachLabel(r, func(_ bool, k, v string) {
				if !grouping[k] {
					key = append(key, k+"="+v)
				}
			})
			slices.Sort(key)
		} else {
			for _, g := range ag.Grouping {
				v, _ := sn.Label(r, g)
				key = append(key, g+"="+v)
			}
		}
		k := strings.Join(key, ",")
		st := groups[k]
		if st == nil {
			st = &aggState{min: math.Inf(1), max: math.Inf(-1)}
			groups[k] = st
		}
		st.sum += r.Value
		st.n++
		st.min = math.Min(st.min, r.Value)
		st.max = math.Max(st.max, r.Value)
	}
	out := make(map[string]float64, len(groups))
	for k, st := range groups {
		switch ag.Op {
		case "sum":
			out[k] = st.sum
		case "avg":
			out[k] = st.sum / float64(st.n)
		case "max":
			out[k] = st.max
		case "min":
			out[k] = st.min
		case "count":
			out[k] = float64(st.n)
		}
	}
	return out
}

// aggregateError compares the aggregate over the latest values of the two
// streams' active series, group by group.
func aggregateError(res *apiv1.AggregateResult, ag Aggregate, base, cand *cardinality.Snapshot) {
	bv := sortedGroups(evalAggregate(base, ag, nil), groupValues{})
	cv := sortedGroups(evalAggregate(cand, ag, nil), groupValues{})
	res.Groups = len(bv.keys)
	if len(bv.keys) == 0 {
		res.UnknownReason = "the baseline has no series for " + ag.Metric
		return
	}
	maxErr, mean := relErrors(bv, cv)
	res.MaxRelError, res.MeanRelError = &maxErr, &mean
}

// relErrors returns the max and mean over the baseline's groups (at least
// one) of |candidate - baseline| / |baseline|; a group missing from the
// candidate, or non-zero where the baseline is zero, counts 1.
func relErrors(base, cand groupValues) (maxErr, mean float64) {
	var sum float64
	for i, k := range base.keys {
		b := base.vals[i]
		c, ok := cand.find(k)
		var e float64
		switch {
		case !ok:
			e = 1
		case b == 0 && c == 0:
			e = 0
		case b == 0:
			e = 1
		default:
			e = math.Abs(c-b) / math.Abs(b)
		}
		maxErr = math.Max(maxErr, e)
		sum += e
	}
	return maxErr, sum / float64(len(base.keys))
}
