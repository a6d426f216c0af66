package experiment

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func f64(v float64) *float64 { return &v }

// topkCriteria are the criteria of examples/experiments/topk.yaml.
var topkCriteria = Criteria{MinSeriesReductionPct: f64(30), MinCriticalRetentionPct: f64(100),
	MaxAggregateErrorPct: f64(5), MinCostReductionPct: f64(0), PriceModel: "datadog"}

// good is a candidate that meets topkCriteria with room to spare.
func good(name string, cost float64) Figures {
	return Figures{Candidate: name, SeriesReduction: f64(0.62), CostReduction: f64(cost),
		CriticalRetention: f64(1), CriticalBaseline: 15, CriticalRetained: 15,
		Aggregates: []AggregateFigures{{Expr: `sum({"process.cpu.time"}) by ("host.name")`, WindowErrors: []float64{0.01, 0.03, 0.02}}},
		Windows:    9}
}

func with(f Figures, edit func(*Figures)) Figures { edit(&f); return f }

var dev = DataFacts{Agents: 1}

func TestDecide(t *testing.T) {
	cases := []struct {
		name     string
		criteria Criteria
		facts    DataFacts
		figs     []Figures
		outcome  Outcome
		winner   string
		// per candidate: outcome and failed criteria
		candidates map[string]Outcome
		failed     map[string][]string
		reason     string // part of some experiment-level reason
	}{
		{name: "the top-K example passes", criteria: topkCriteria, facts: dev, figs: []Figures{good("topk", 0.55)},
			outcome: OutcomeSucceeded, winner: "topk", candidates: map[string]Outcome{"topk": OutcomePassed}, reason: "topk passed every criterion"},
		{name: "dropping a critical process fails and names the criterion", criteria: Criteria{MinSeriesReductionPct: f64(1), MinCriticalRetentionPct: f64(100)},
			facts: dev, figs: []Figures{with(good("drop-postgres", 0.3), func(f *Figures) {
				f.CriticalRetention, f.CriticalRetained, f.CriticalMissing = f64(12.0/15), 12, []string{"postgres"}
			})},
			outcome: OutcomeFailed, candidates: map[string]Outcome{"drop-postgres": OutcomeFailed},
			failed: map[string][]string{"drop-postgres": {CritCriticalRetention}}, reason: "drop-postgres failed min_critical_retention_pct"},
		{name: "a selector matching no agent is inconclusive", criteria: topkCriteria, facts: DataFacts{},
			figs: []Figures{good("topk", 0.5)}, outcome: OutcomeInconclusive, reason: "selector matched none"},
		{name: "an agent that never reported makes it inconclusive", criteria: topkCriteria,
			facts: DataFacts{Agents: 2, SilentAgents: []string{"agent-b on host h2 sent nothing on baseline, topk"}}, figs: []Figures{good("topk", 0.5)},
			outcome: OutcomeInconclusive, reason: "1 of 2 agents did not deliver data on every variant: agent-b on host h2 sent nothing on baseline, topk"},
		{name: "a note on what was not checked decides nothing", criteria: topkCriteria,
			facts: DataFacts{Agents: 1, Note: "agents not checked one by one"}, figs: []Figures{good("topk", 0.5)},
			outcome: OutcomeSucceeded, winner: "topk", candidates: map[string]Outcome{"topk": OutcomePassed}, reason: "agents not checked one by one"},
		{name: "an empty baseline stream is inconclusive", criteria: topkCriteria,
			facts: DataFacts{Agents: 1, EmptyStreams: []string{"exp--baseline"}}, figs: []Figures{good("topk", 0.5)},
			outcome: OutcomeInconclusive, reason: "the baseline stream exp--baseline has no data"},
		{name: "an empty candidate stream is inconclusive, even with figures", criteria: topkCriteria,
			facts: DataFacts{Agents: 1, EmptyStreams: []string{"exp--topk"}}, figs: []Figures{good("topk", 0.5)},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}, reason: "the stream exp--topk has no data"},
		{name: "too few windows is inconclusive, even a miss", criteria: topkCriteria, facts: dev,
			figs:    []Figures{with(good("topk", 0.5), func(f *Figures) { f.Windows, f.SeriesReduction = 2, f64(0.1) })},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}, reason: "2 analysis windows"},
		{name: "no critical entity in the baseline is not 100% retention", criteria: topkCriteria, facts: dev,
			figs: []Figures{with(good("topk", 0.5), func(f *Figures) {
				f.CriticalRetention, f.CriticalBaseline, f.CriticalRetained, f.CriticalUnknownReason = nil, 0, 0, "no critical entity matched in the baseline"
			})},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}, reason: "min_critical_retention_pct not measured"},
		{name: "a retention over zero entities is not measured", criteria: topkCriteria, facts: dev,
			figs:    []Figures{with(good("topk", 0.5), func(f *Figures) { f.CriticalBaseline, f.CriticalRetained = 0, 0 })},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}},
		{name: "the cheapest passing candidate wins", criteria: topkCriteria, facts: dev,
			figs:    []Figures{good("balanced", 0.40), good("topk", 0.55), good("aggressive", 0.50)},
			outcome: OutcomeSucceeded, winner: "topk", reason: "cheapest of 3 passing candidates"},
		{name: "equal cost: the name decides", criteria: topkCriteria, facts: dev,
			figs:    []Figures{good("zeta", 0.5), good("alpha", 0.5)},
			outcome: OutcomeSucceeded, winner: "alpha"},
		{name: "without every cost, series reduction ranks", criteria: Criteria{MinSeriesReductionPct: f64(30)}, facts: dev,
			figs: []Figures{
				with(good("a", 0.9), func(f *Figures) { f.SeriesReduction = f64(0.4) }),
				with(good("b", 0), func(f *Figures) { f.CostReduction, f.SeriesReduction = nil, f64(0.7) }),
			},
			outcome: OutcomeSucceeded, winner: "b"},
		{name: "a failing candidate does not hide a passing one", criteria: topkCriteria, facts: dev,
			figs:    []Figures{with(good("drop", 0.9), func(f *Figures) { f.CriticalRetention = f64(0.5) }), good("topk", 0.3)},
			outcome: OutcomeSucceeded, winner: "topk", candidates: map[string]Outcome{"drop": OutcomeFailed, "topk": OutcomePassed}},
		{name: "a failure beside an unmeasured candidate is inconclusive", criteria: topkCriteria, facts: dev,
			figs: []Figures{with(good("drop", 0.9), func(f *Figures) { f.CriticalRetention = f64(0.5) }),
				with(good("topk", 0.3), func(f *Figures) { f.CostReduction, f.CostReductionUnknownReason = nil, "price model unknown" })},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"drop": OutcomeFailed, "topk": OutcomeInconclusive}, reason: "price model unknown"},
		{name: "several misses are all named", criteria: topkCriteria, facts: dev,
			figs: []Figures{with(good("tiny", 0.01), func(f *Figures) {
				f.SeriesReduction, f.CostReduction = f64(0.05), f64(-0.02)
				f.Aggregates[0].WindowErrors = []float64{0.01, 0.2}
			})},
			outcome: OutcomeFailed, failed: map[string][]string{"tiny": {CritSeriesReduction, CritAggregateError, CritCostReduction}}},
		{name: "an aggregate without windows is not measured", criteria: topkCriteria, facts: dev,
			figs: []Figures{with(good("topk", 0.5), func(f *Figures) {
				f.Aggregates = append(f.Aggregates, AggregateFigures{Expr: "sum(x)", UnknownReason: "no window with values of both streams"})
			})},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}, reason: "sum(x): no window"},
		{name: "a NaN figure is not measured", criteria: Criteria{MinSeriesReductionPct: f64(30)}, facts: dev,
			figs:    []Figures{with(good("topk", 0.5), func(f *Figures) { f.SeriesReduction = f64(math.NaN()) })},
			outcome: OutcomeInconclusive, candidates: map[string]Outcome{"topk": OutcomeInconclusive}},
		{name: "exactly at the thresholds passes", criteria: topkCriteria, facts: dev,
			figs: []Figures{with(good("edge", 0), func(f *Figures) {
				f.SeriesReduction, f.CostReduction = f64(0.3), f64(0)
				f.Aggregates[0].WindowErrors = []float64{0.05}
				f.Windows = DefaultMinWindows
			})},
			outcome: OutcomeSucceeded, winner: "edge"},
		{name: "no candidate measured is inconclusive", criteria: topkCriteria, facts: dev,
			outcome: OutcomeInconclusive, reason: "no candidate was measured"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Decide("exp", c.criteria, c.facts, c.figs, Policy{})
			if res.Outcome != c.outcome || res.Winner != c.winner {
				t.Fatalf("outcome %s winner %q, want %s %q; reasons %v", res.Outcome, res.Winner, c.outcome, c.winner, res.Reasons)
			}
			if c.outcome != OutcomeSucceeded && res.Winner != "" {
				t.Fatalf("a winner without success: %q", res.Winner)
			}
			if c.reason != "" && !slices.ContainsFunc(res.Reasons, func(r string) bool { return strings.Contains(r, c.reason) }) {
				t.Errorf("reasons %q lack %q", res.Reasons, c.reason)
			}
			if len(res.Candidates) != len(c.figs) {
				t.Fatalf("%d candidate results for %d candidates", len(res.Candidates), len(c.figs))
			}
			for _, cr := range res.Candidates {
				if want, ok := c.candidates[cr.Name]; ok && cr.Outcome != want {
					t.Errorf("%s: %s, want %s (%v)", cr.Name, cr.Outcome, want, cr.Reasons)
				}
				if want, ok := c.failed[cr.Name]; ok && !slices.Equal(cr.Failed, want) {
					t.Errorf("%s failed %v, want %v", cr.Name, cr.Failed, want)
				}
				if cr.Stream != "exp--"+cr.Name {
					t.Errorf("stream %q", cr.Stream)
				}
				if res.Outcome == OutcomeSucceeded && cr.Name == res.Winner {
					for _, k := range cr.Criteria {
						if k.Result != ResultPass || k.Measured == nil {
							t.Errorf("winner with %+v", k)
						}
					}
				}
			}
		})
	}
}

// TestDecideCriteriaTable checks the per-criterion rows a user reads:
// measured value in percent, comparison, threshold, result.
func TestDecideCriteriaTable(t *testing.T) {
	f := with(good("topk", 0.55), func(f *Figures) { f.CriticalRetention = f64(14.0 / 15) })
	res := Decide("topk-vs-baseline", topkCriteria, dev, []Figures{f}, Policy{})
	got := res.Candidates[0].Criteria
	want := []struct {
		name, cmp, result string
		measured, thr     float64
	}{
		{CritSeriesReduction, ">=", ResultPass, 62, 30},
		{CritCriticalRetention, ">=", ResultFail, 100 * 14.0 / 15, 100},
		{CritAggregateError, "<=", ResultPass, 3, 5},
		{CritCostReduction, ">=", ResultPass, 55, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("criteria %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Criterion != w.name || g.Comparison != w.cmp || g.Result != w.result || g.Threshold != w.thr ||
			g.Measured == nil || math.Abs(*g.Measured-w.measured) > 1e-9 {
			t.Errorf("row %d = %+v (measured %v), want %+v", i, g, deref(g.Measured), w)
		}
	}
	// Only the criteria the spec sets are judged.
	res = Decide("e", Criteria{MinSeriesReductionPct: f64(10)}, dev, []Figures{f}, Policy{})
	if rows := res.Candidates[0].Criteria; len(rows) != 1 || rows[0].Criterion != CritSeriesReduction {
		t.Errorf("rows for one criterion: %+v", rows)
	}
	// The results survive the store's JSON.
	b, _ := json.Marshal(res)
	var back Results
	if err := json.Unmarshal(b, &back); err != nil || back.Winner != "topk" || back.Candidates[0].Criteria[0].Result != ResultPass {
		t.Errorf("JSON round trip: %+v %v", back, err)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestFiguresFromCompare reads a compare report as analytics answers it.
func TestFiguresFromCompare(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
	rep := apiv1.CompareReport{
		Baseline: "topk-vs-baseline--baseline", Candidate: "topk-vs-baseline--topk",
		SeriesReduction: f64(0.6), CostReduction: nil, CostReductionUnknownReason: "baseline cost unknown: no data",
		CriticalRetention: f64(0.9),
		Critical: []apiv1.CriticalResult{
			{Matcher: `process.executable.name=~"nginx"`, Baseline: 5, Retained: 5},
			{Matcher: `process.executable.name=~"postgres"`, Baseline: 5, Retained: 4, Missing: []string{"postgres/4711"}},
		},
		Aggregates: []apiv1.AggregateResult{
			{Expr: "sum(a)", Basis: apiv1.BasisWindows, Windows: []apiv1.AggregateWindow{
				{Start: t0, End: t0.Add(10 * time.Second), MaxRelError: 0.01}, {Start: t0.Add(10 * time.Second), End: t0.Add(20 * time.Second), MaxRelError: 0.04}}},
			{Expr: "sum(b)", Basis: apiv1.BasisLatest, BasisReason: "no window in range", MaxRelError: f64(0)},
		},
	}
	f := FiguresFromCompare("topk", rep, 6)
	if f.Candidate != "topk" || *f.SeriesReduction != 0.6 || f.CostReduction != nil || f.CostReductionUnknownReason == "" ||
		f.CriticalBaseline != 10 || f.CriticalRetained != 9 || len(f.CriticalMissing) != 1 || f.Windows != 6 {
		t.Fatalf("figures: %+v", f)
	}
	if len(f.Aggregates) != 2 || !slices.Equal(f.Aggregates[0].WindowErrors, []float64{0.01, 0.04}) {
		t.Fatalf("aggregates: %+v", f.Aggregates)
	}
	// A latest-value aggregate is not a per-window figure: unknown, with why.
	if a := f.Aggregates[1]; a.WindowErrors != nil || !strings.Contains(a.UnknownReason, "no window in range") {
		t.Fatalf("latest-basis aggregate: %+v", a)
	}
	res := Decide("topk-vs-baseline", topkCriteria, dev, []Figures{f}, Policy{})
	if res.Outcome != OutcomeFailed || !slices.Equal(res.Candidates[0].Failed, []string{CritCriticalRetention}) {
		t.Fatalf("verdict from a compare report: %+v", res)
	}
}
