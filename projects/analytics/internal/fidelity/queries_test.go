package fidelity

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// TestCompareQueries: queries are watched and scored per window, listed
// worst first; a query outside the subset, or with an empty baseline
// result, is not evaluated and listed last.
func TestCompareQueries(t *testing.T) {
	clk := &clock{now: t0}
	tr := cardinality.New(cardinality.Limits{Staleness: 5 * time.Minute}, clk.Now)
	w := NewWatcher(WatchLimits{})
	queries := []string{
		`sum by (host_name) (mem)`,                  // Prometheus label name of host.name
		`histogram_quantile(0.9, mem)`,              // outside the subset
		`sum({"mem"})`,                              // OTel name, quoted
		`topk(1, mem)`,                              // keeps the input series
		`sum by (host_name) (no_such_metric_total)`, // empty on the baseline
	}
	rep := apiv1.CompareReport{Baseline: "e--baseline", Candidate: "e--candidate"}
	if _, err := Compare(rep, Inputs{Queries: queries, Watcher: w, Now: t0}); err != nil {
		t.Fatal(err)
	}
	base := fleet{{"a": 10, "b": 30}, {"a": 10, "b": 30}, {"a": 10, "b": 30}}
	cand := fleet{{"a": 10, "b": 30}, {"a": 10, "b": 24}, {"a": 10, "b": 30}}
	for i := range base {
		clk.now = t0.Add(time.Duration(i)*10*time.Second + time.Second)
		ingest(t, tr, "e--baseline", base[i])
		ingest(t, tr, "e--candidate", cand[i])
		clk.now = end(i)
		w.Sample(clk.now, tr.Streams())
	}
	got, err := Compare(rep, Inputs{Queries: queries, Watcher: w, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		expr      string
		evaluated bool
		max       float64
		worst     string
		reason    string
	}{
		{expr: `sum by (host_name) (mem)`, evaluated: true, max: 0.2, worst: "host_name=b"},
		{expr: `topk(1, mem)`, evaluated: true, max: 0.2},
		{expr: `sum({"mem"})`, evaluated: true, max: 6.0 / 40},
		{expr: `histogram_quantile(0.9, mem)`, reason: "function histogram_quantile is not supported"},
		{expr: `sum by (host_name) (no_such_metric_total)`, reason: "empty in every window"},
	}
	if len(got.Queries) != len(want) {
		t.Fatalf("queries: %+v", got.Queries)
	}
	for i, q := range got.Queries {
		wq := want[i]
		if q.Expr != wq.expr || q.Evaluated != wq.evaluated {
			t.Errorf("%d: got %s evaluated=%v (%s), want %s evaluated=%v", i, q.Expr, q.Evaluated, q.NotEvaluatedReason, wq.expr, wq.evaluated)
			continue
		}
		if !wq.evaluated {
			if q.MaxRelError != nil || !strings.Contains(q.NotEvaluatedReason, wq.reason) {
				t.Errorf("%s: %+v, want not evaluated: %s", q.Expr, q, wq.reason)
			}
			continue
		}
		if q.Windows != 3 || math.Abs(*q.MaxRelError-wq.max) > 1e-6 || wq.worst != "" && !strings.Contains(q.Worst, wq.worst) {
			t.Errorf("%s: windows %d max %v worst %q, want 3, %v, %q", q.Expr, q.Windows, *q.MaxRelError, q.Worst, wq.max, wq.worst)
		}
	}
}
