package experiment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Outcome is a verdict: an experiment's, or one candidate's. The result
// types are the API's (pkg/apiv1), so the CLI reads what the store holds.
type Outcome = apiv1.ExperimentOutcome

// Outcomes. A candidate passes or fails; either may be inconclusive.
const (
	OutcomeSucceeded    Outcome = "succeeded"
	OutcomeFailed       Outcome = "failed"
	OutcomeInconclusive Outcome = "inconclusive"
	OutcomePassed       Outcome = "passed" // a candidate that met every criterion
)

// Criterion names, as the spec writes them.
const (
	CritSeriesReduction   = "min_series_reduction_pct"
	CritCriticalRetention = "min_critical_retention_pct"
	CritAggregateError    = "max_aggregate_error_pct"
	CritCostReduction     = "min_cost_reduction_pct"
)

// Criterion results.
const (
	ResultPass    = "pass"
	ResultFail    = "fail"
	ResultUnknown = "unknown" // not measured: never a pass
)

// Figures are what analytics measured for one candidate against the
// baseline over the analysis window (after warm-up): the fields of its
// compare report (apiv1.CompareReport; FiguresFromCompare copies them),
// fractions as compare gives them, nil with a reason when not measurable.
type Figures struct {
	Candidate                    string
	SeriesReduction              *float64 // 1 - candidate/baseline active series
	SeriesReductionUnknownReason string
	CostReduction                *float64 // 1 - candidate/baseline monthly cost, under the price model
	CostReductionUnknownReason   string
	CriticalRetention            *float64 // retained / baseline critical entities
	CriticalUnknownReason        string
	CriticalBaseline             int64 // critical entities seen in the baseline
	CriticalRetained             int64
	CriticalMissing              []string // examples, as compare lists them
	Aggregates                   []AggregateFigures
	Queries                      []apiv1.QueryResult // worst first, as compare lists them
	// Windows counts the analysis windows in which both the baseline and
	// this candidate delivered data.
	Windows int
}

// AggregateFigures is one declared aggregate's error per window (fractions,
// the max over the aggregate's groups), oldest first.
type AggregateFigures struct {
	Expr          string
	WindowErrors  []float64
	UnknownReason string // why there is no window, when there is none
}

// DataFacts say whether the data an analysis needs arrived at all.
type DataFacts struct {
	Agents int // agents the experiment ran on
	// SilentAgents name agents that sent nothing on some variant, each
	// with the variants ("a1 on host h1 sent nothing on topk").
	SilentAgents []string
	EmptyStreams []string // variant streams with no data in the window
	// Note says what could not be checked (e.g. agents one by one); it is
	// listed in the reasons and decides nothing.
	Note string
}

// Policy tunes how much data a verdict needs.
type Policy struct {
	// MinWindows is the fewest analysis windows with data of both streams
	// a candidate needs for a verdict (default 3: one window is noise).
	MinWindows int
}

// DefaultMinWindows is Policy.MinWindows when unset.
const DefaultMinWindows = 3

// Results are an analysis: the outcome, the winner, and per candidate each
// criterion's measured value, threshold and result.
type Results = apiv1.ExperimentResults

// CandidateResult is one candidate's verdict.
type CandidateResult = apiv1.ExperimentCandidateResult

// CriterionResult is one criterion of one candidate. Measured and
// Threshold are percentages; Comparison is ">=" or "<=".
type CriterionResult = apiv1.ExperimentCriterionResult

// FiguresFromCompare copies one compare report (candidate vs baseline over
// the analysis window) into Figures; windows is counted by the caller
// from the streams' rollups.
func FiguresFromCompare(candidate string, rep apiv1.CompareReport, windows int) Figures {
	f := Figures{
		Candidate:                    candidate,
		SeriesReduction:              rep.SeriesReduction,
		SeriesReductionUnknownReason: rep.SeriesReductionUnknownReason,
		CostReduction:                rep.CostReduction,
		CostReductionUnknownReason:   rep.CostReductionUnknownReason,
		CriticalRetention:            rep.CriticalRetention,
		CriticalUnknownReason:        rep.CriticalRetentionUnknownReason,
		Windows:                      windows,
		Queries:                      rep.Queries,
	}
	for _, c := range rep.Critical {
		f.CriticalBaseline += c.Baseline
		f.CriticalRetained += c.Retained
		f.CriticalMissing = append(f.CriticalMissing, c.Missing...)
	}
	for _, a := range rep.Aggregates {
		ag := AggregateFigures{Expr: a.Expr}
		for _, w := range a.Windows {
			ag.WindowErrors = append(ag.WindowErrors, w.MaxRelError)
		}
		if a.Basis != apiv1.BasisWindows || len(ag.WindowErrors) == 0 {
			// A "latest" figure is one instant, not the per-window error
			// the criterion is about.
			ag.WindowErrors = nil
			ag.UnknownReason = "no window with values of both streams: " + firstNonEmpty(a.BasisReason, a.UnknownReason, "not measured")
		}
		f.Aggregates = append(f.Aggregates, ag)
	}
	return f
}

// epsilon absorbs float noise at a threshold: 100% retention computed as
// 1.0*100 must pass min 100.
const epsilon = 1e-9

// Decide is the verdict, a pure function of the criteria, the data facts
// and each candidate's figures. A candidate passes when every criterion is
// measured and met, fails when a measured criterion is missed, and is
// inconclusive otherwise or when its data is too little. The experiment
// succeeds when a candidate passes and the data is complete (the winner is
// the cheapest passing candidate), fails when every candidate fails, and is
// inconclusive otherwise: no data is never a success.
func Decide(experiment string, c Criteria, facts DataFacts, figs []Figures, p Policy) Results {
	if p.MinWindows <= 0 {
		p.MinWindows = DefaultMinWindows
	}
	res := Results{Reasons: []string{}, Candidates: []CandidateResult{}}
	var missing []string
	if facts.Agents == 0 {
		missing = append(missing, "no agent ran the experiment (the selector matched none)")
	}
	if len(facts.SilentAgents) > 0 {
		missing = append(missing, fmt.Sprintf("%d of %d agents did not deliver data on every variant: %s", len(facts.SilentAgents),
			facts.Agents, strings.Join(capList(facts.SilentAgents, 10), "; ")))
	}
	baselineStream := StreamID(experiment, BaselineVariant)
	if slices.Contains(facts.EmptyStreams, baselineStream) {
		missing = append(missing, "the baseline stream "+baselineStream+" has no data")
	}
	if len(figs) == 0 {
		missing = append(missing, "no candidate was measured")
	}
	for _, f := range figs {
		cr := judge(experiment, c, f, facts, p)
		res.Candidates = append(res.Candidates, cr)
	}

	var passed, failed []CandidateResult
	for _, cr := range res.Candidates {
		switch cr.Outcome {
		case OutcomePassed:
			passed = append(passed, cr)
		case OutcomeFailed:
			failed = append(failed, cr)
		}
	}
	if facts.Note != "" {
		res.Reasons = append(res.Reasons, facts.Note)
	}
	switch {
	case len(missing) > 0:
		res.Outcome = OutcomeInconclusive
		res.Reasons = append(res.Reasons, missing...)
	case len(passed) > 0:
		res.Outcome = OutcomeSucceeded
		w := cheapest(passed, figs)
		res.Winner = w.Name
		res.Reasons = append(res.Reasons, fmt.Sprintf("%s passed every criterion%s", w.Name, cheapestNote(passed)))
	case len(failed) == len(res.Candidates):
		res.Outcome = OutcomeFailed
		for _, cr := range failed {
			res.Reasons = append(res.Reasons, fmt.Sprintf("%s failed %s", cr.Name, strings.Join(cr.Failed, ", ")))
		}
	default:
		res.Outcome = OutcomeInconclusive
		for _, cr := range res.Candidates {
			if cr.Outcome == OutcomeInconclusive {
				res.Reasons = append(res.Reasons, cr.Name+": "+strings.Join(cr.Reasons, "; "))
			}
		}
	}
	return res
}

// judge is one candidate's verdict.
func judge(experiment string, c Criteria, f Figures, facts DataFacts, p Policy) CandidateResult {
	cr := CandidateResult{Name: f.Candidate, Stream: StreamID(experiment, f.Candidate), Windows: f.Windows, Criteria: []CriterionResult{}}
	add := func(name, cmp string, threshold float64, measured *float64, reason string) {
		r := CriterionResult{Criterion: name, Comparison: cmp, Threshold: threshold, Measured: measured, MeasuredUnknownReason: reason}
		switch {
		case measured == nil || math.IsNaN(*measured):
			r.Measured = nil
			r.Result = ResultUnknown
			if r.MeasuredUnknownReason == "" {
				r.MeasuredUnknownReason = "not measured"
			}
		case cmp == ">=" && *measured >= threshold-epsilon, cmp == "<=" && *measured <= threshold+epsilon:
			r.Result = ResultPass
		default:
			r.Result = ResultFail
		}
		cr.Criteria = append(cr.Criteria, r)
	}
	if t := c.MinSeriesReductionPct; t != nil {
		add(CritSeriesReduction, ">=", *t, pct(f.SeriesReduction), f.SeriesReductionUnknownReason)
	}
	if t := c.MinCriticalRetentionPct; t != nil {
		reason := f.CriticalUnknownReason
		v := pct(f.CriticalRetention)
		if v != nil && f.CriticalBaseline == 0 {
			// A retention over zero entities says nothing.
			v, reason = nil, "no critical entity matched in the baseline"
		}
		add(CritCriticalRetention, ">=", *t, v, reason)
	}
	if t := c.MaxAggregateErrorPct; t != nil {
		v, reason := worstAggregate(f.Aggregates)
		add(CritAggregateError, "<=", *t, v, reason)
	}
	if t := c.MaxQueryErrorPct; t != nil {
		v, reason := worstQuery(f.Queries)
		add(CritQueryError, "<=", *t, v, reason)
	}
	cr.Queries = f.Queries
	if t := c.MinCostReductionPct; t != nil {
		add(CritCostReduction, ">=", *t, pct(f.CostReduction), f.CostReductionUnknownReason)
	}

	var unknown []string
	for _, r := range cr.Criteria {
		switch r.Result {
		case ResultFail:
			cr.Failed = append(cr.Failed, r.Criterion)
		case ResultUnknown:
			unknown = append(unknown, r.Criterion+" not measured ("+r.MeasuredUnknownReason+")")
		}
	}
	// Too little data makes every figure, a miss included, noise.
	if slices.Contains(facts.EmptyStreams, cr.Stream) {
		cr.Reasons = append(cr.Reasons, "the stream "+cr.Stream+" has no data")
	}
	if f.Windows < p.MinWindows {
		cr.Reasons = append(cr.Reasons, fmt.Sprintf("%d analysis windows with data of both streams; at least %d needed", f.Windows, p.MinWindows))
	}
	switch {
	case len(cr.Reasons) > 0:
		cr.Outcome = OutcomeInconclusive
	case len(cr.Failed) > 0:
		cr.Outcome = OutcomeFailed
	case len(unknown) > 0:
		cr.Outcome = OutcomeInconclusive
		cr.Reasons = unknown
	default:
		cr.Outcome = OutcomePassed
	}
	return cr
}

// worstAggregate is the largest per-window error over every aggregate, in
// percent; unknown when any aggregate has no window, since the criterion
// is about all of them.
func worstAggregate(ags []AggregateFigures) (*float64, string) {
	if len(ags) == 0 {
		return nil, "no aggregate was measured"
	}
	worst := 0.0
	for _, a := range ags {
		if len(a.WindowErrors) == 0 {
			return nil, a.Expr + ": " + firstNonEmpty(a.UnknownReason, "no window measured")
		}
		for _, e := range a.WindowErrors {
			if math.IsNaN(e) || e < 0 {
				return nil, a.Expr + ": an invalid error figure"
			}
			worst = max(worst, e)
		}
	}
	v := worst * 100
	return &v, ""
}

// cheapest picks the winner: the largest cost reduction when every passing
// candidate's cost is known, else the largest series reduction; the name
// breaks ties so the verdict is deterministic.
func cheapest(passed []CandidateResult, figs []Figures) CandidateResult {
	by := map[string]Figures{}
	for _, f := range figs {
		by[f.Candidate] = f
	}
	useCost := true
	for _, cr := range passed {
		if by[cr.Name].CostReduction == nil {
			useCost = false
		}
	}
	key := func(cr CandidateResult) float64 {
		f := by[cr.Name]
		v := f.SeriesReduction
		if useCost {
			v = f.CostReduction
		}
		if v == nil {
			return math.Inf(-1)
		}
		return *v
	}
	return slices.MinFunc(passed, func(a, b CandidateResult) int {
		if c := cmp.Compare(key(b), key(a)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func cheapestNote(passed []CandidateResult) string {
	if len(passed) < 2 {
		return ""
	}
	return fmt.Sprintf(" and is the cheapest of %d passing candidates", len(passed))
}

func pct(v *float64) *float64 {
	if v == nil {
		return nil
	}
	p := *v * 100
	return &p
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
