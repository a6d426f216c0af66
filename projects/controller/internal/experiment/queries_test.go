package experiment

import (
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func TestWorstQuery(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		qs     []apiv1.QueryResult
		want   *float64
		reason string
	}{
		{"none scored", nil, nil, "no query was scored"},
		{"none evaluated", []apiv1.QueryResult{{Expr: "histogram_quantile(0.9, x)", NotEvaluatedReason: "not evaluated: function histogram_quantile is not supported"}},
			nil, "none of 1 queries could be evaluated"},
		{"worst of the evaluated; the others listed only", []apiv1.QueryResult{
			{Expr: "a", Evaluated: true, MaxRelError: f(0.02)},
			{Expr: "b", Evaluated: true, MaxRelError: f(0.07)},
			{Expr: "c", NotEvaluatedReason: "outside the subset"}}, f(7), ""},
	}
	for _, tt := range tests {
		got, reason := worstQuery(tt.qs)
		if (got == nil) != (tt.want == nil) || got != nil && *got-*tt.want > 1e-9 || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: worstQuery = %v %q, want %v %q", tt.name, got, reason, tt.want, tt.reason)
		}
	}
}

// TestDecideQueries: a query error over the threshold fails the
// candidate and names the criterion; a candidate whose queries are all
// outside the subset is inconclusive, never passed.
func TestDecideQueries(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	c := Criteria{MaxQueryErrorPct: f(5)}
	facts := DataFacts{Agents: 1}
	bad := Figures{Candidate: "topk", Windows: 5, Queries: []apiv1.QueryResult{{Expr: "q", Evaluated: true, MaxRelError: f(0.2)}}}
	if r := Decide("e", c, facts, []Figures{bad}, Policy{}); r.Outcome != OutcomeFailed || !strings.Contains(strings.Join(r.Reasons, ";"), CritQueryError) {
		t.Errorf("over the threshold: %+v", r)
	}
	none := Figures{Candidate: "topk", Windows: 5, Queries: []apiv1.QueryResult{{Expr: "q", NotEvaluatedReason: "outside"}}}
	if r := Decide("e", c, facts, []Figures{none}, Policy{}); r.Outcome != OutcomeInconclusive || len(r.Candidates[0].Queries) != 1 {
		t.Errorf("nothing evaluated: %+v", r)
	}
}
