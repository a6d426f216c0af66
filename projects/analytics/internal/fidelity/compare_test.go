package fidelity

import (
	"math"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

func snapshot(t testing.TB, tr *cardinality.Tracker, stream string, bodies [][]byte) *cardinality.Snapshot {
	t.Helper()
	for _, body := range bodies {
		b := tr.Batch(stream, "")
		if err := otlpwire.Walk(body, b); err != nil {
			t.Fatal(err)
		}
		b.Done()
	}
	return tr.Stream(stream).Snapshot()
}

func f(v float64) *float64 { return &v }

func TestCompare(t *testing.T) {
	tr := cardinality.New(cardinality.Limits{}, nil)
	base := snapshot(t, tr, "e--baseline", otlptest.ProcessFleet(0, 100, 1000))
	cand := snapshot(t, tr, "e--candidate", otlptest.ProcessFleet(0, 50, 1000))
	rep, err := Compare(apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}, Inputs{
		Baseline: base, Candidate: cand,
		BaselineVol:  Volume{ActiveSeries: f(1000), DPPerS: f(100), BytesPerS: f(1000), Cost: f(10)},
		CandidateVol: Volume{ActiveSeries: f(500), DPPerS: f(50), BytesPerS: nil, Reason: "no complete interval yet", Cost: f(4)},
		Critical:     []string{`process.executable.name=~"nginx|postgres"`, `{"process.executable.name"="sshd"}`},
		Aggregates:   []string{`sum({"process.memory.usage"}) by ("host.name")`, `count(process.threads)`, `max(nope)`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *rep.SeriesReduction != 0.5 || *rep.DPReduction != 0.5 || math.Abs(*rep.CostReduction-0.6) > 1e-12 {
		t.Errorf("reductions: %v %v %v", *rep.SeriesReduction, *rep.DPReduction, *rep.CostReduction)
	}
	if rep.BytesReduction != nil || rep.BytesReductionUnknownReason == "" {
		t.Errorf("bytes reduction should be unknown: %v", rep.BytesReduction)
	}
	// nginx: 0,8,..,96 (13), postgres: 1,9,..,97 (13); in the first 50: 7 + 7.
	// sshd: 6,14,..,94 (12); in the first 50: 6.
	if c := rep.Critical[0]; c.Baseline != 26 || c.Retained != 14 || len(c.Missing) != 12 {
		t.Errorf("critical nginx|postgres: %+v", c)
	}
	if c := rep.Critical[1]; c.Baseline != 12 || c.Retained != 6 {
		t.Errorf("critical sshd: %+v", c)
	}
	if want := 20.0 / 38; math.Abs(*rep.CriticalRetention-want) > 1e-12 {
		t.Errorf("retention %v, want %v", *rep.CriticalRetention, want)
	}
	// Memory usage = pid: sum 0..99 = 4950 vs 0..49 = 1225.
	if a := rep.Aggregates[0]; a.Groups != 1 || a.Basis != apiv1.BasisLatest || a.BasisReason == "" || math.Abs(*a.MaxRelError-(1-1225.0/4950)) > 1e-9 {
		t.Errorf("sum aggregate: %+v %v", a, *a.MaxRelError)
	}
	if a := rep.Aggregates[1]; math.Abs(*a.MaxRelError-0.5) > 1e-12 {
		t.Errorf("count aggregate: %v", *a.MaxRelError)
	}
	if a := rep.Aggregates[2]; a.MaxRelError != nil || a.UnknownReason == "" || a.Basis != apiv1.BasisNone {
		t.Errorf("unknown metric aggregate: %+v", a)
	}

	if _, err := Compare(apiv1.CompareReport{}, Inputs{Critical: []string{"bad"}}); err == nil {
		t.Error("bad matcher accepted")
	}
	if _, err := Compare(apiv1.CompareReport{}, Inputs{Aggregates: []string{"histogram_quantile(0.9, rate(x[5m]))"}}); err == nil {
		t.Error("bad aggregate accepted")
	}
	// No baseline data: unknown, never success.
	rep, _ = Compare(apiv1.CompareReport{}, Inputs{BaselineVol: Volume{ActiveSeries: f(0)}, CandidateVol: Volume{ActiveSeries: f(0)}, Critical: []string{`a="b"`}})
	if rep.SeriesReduction != nil || rep.CriticalRetention != nil || rep.CriticalRetentionUnknownReason == "" {
		t.Errorf("no data: %+v", rep)
	}
}

// BenchmarkCriticalRetention compares two 100k-series streams (10k
// processes) on a critical matcher.
func BenchmarkCriticalRetention(b *testing.B) {
	tr := cardinality.New(cardinality.Limits{ExactSeriesPerStream: 1_000_000, MaxSeriesTotal: 2_000_000}, nil)
	fleet := otlptest.ProcessFleet(0, 10_000, 1000)
	base, cand := snapshot(b, tr, "base", fleet), snapshot(b, tr, "cand", fleet)
	ms, err := ParseMatchers(`{process.executable.name=~"nginx|postgres"}`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := criticalRetention(base, cand, ms); r.Retained != 2500 {
			b.Fatalf("retained %d of %d", r.Retained, r.Baseline)
		}
	}
}
