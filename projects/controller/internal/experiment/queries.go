package experiment

import (
	"fmt"
	"math"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Per-query fidelity (issue 15): the queries of dashboards and rule files,
// scored per window on the baseline and each candidate by analytics.

// CritQueryError is the per-query fidelity criterion.
const CritQueryError = "max_query_error_pct"

// MaxQueries bounds spec.queries.exprs (analytics scores as many).
const MaxQueries = 200

// Queries are the PromQL queries scored per window. Exprs are what the
// API takes; Sources name dashboard and rule files, which the CLI reads
// (relative to the spec file) into Exprs before it sends the spec: the
// server reads no client file.
type Queries struct {
	Exprs   []QueryExpr   `json:"exprs,omitempty"`
	Sources []QuerySource `json:"sources,omitempty"`
}

// QueryExpr is one query and where it came from (a panel, a rule).
type QueryExpr struct {
	Expr   string `json:"expr"`
	Source string `json:"source,omitempty"`
}

// QuerySource is one file of queries: a Grafana dashboard (JSON) or a
// Prometheus rule file (YAML).
type QuerySource struct {
	Grafana         string `json:"grafana,omitempty"`
	PrometheusRules string `json:"prometheus_rules,omitempty"`
}

// QueryExprs lists the spec's query texts, nil when it has none.
func (s *Spec) QueryExprs() []string {
	if s.Queries == nil {
		return nil
	}
	out := make([]string, 0, len(s.Queries.Exprs))
	for _, q := range s.Queries.Exprs {
		out = append(out, q.Expr)
	}
	return out
}

func (s *Spec) checkQueries() []problem.FieldError {
	var errs []problem.FieldError
	if s.Queries != nil {
		exprs := s.QueryExprs()
		if len(exprs) > MaxQueries {
			errs = append(errs, problem.FieldError{Path: "spec.queries.exprs", Message: fmt.Sprintf("at most %d entries", MaxQueries)})
		}
		seen := map[string]bool{}
		for i, q := range s.Queries.Exprs {
			p := fmt.Sprintf("spec.queries.exprs[%d]", i)
			switch {
			case strings.TrimSpace(q.Expr) == "":
				errs = append(errs, problem.FieldError{Path: p + ".expr", Message: "must not be empty"})
			case len(q.Expr) > MaxExprLen*16:
				errs = append(errs, problem.FieldError{Path: p + ".expr", Message: fmt.Sprintf("is longer than %d bytes", MaxExprLen*16)})
			case seen[q.Expr]:
				errs = append(errs, problem.FieldError{Path: p + ".expr", Message: "is listed twice"})
			}
			if len(q.Source) > MaxDescription {
				errs = append(errs, problem.FieldError{Path: p + ".source", Message: fmt.Sprintf("is longer than %d bytes", MaxDescription)})
			}
			seen[q.Expr] = true
		}
		for i := range s.Queries.Sources {
			errs = append(errs, problem.FieldError{Path: fmt.Sprintf("spec.queries.sources[%d]", i),
				Message: "files are read by the CLI (phoenix experiment create|run -f), which sends their queries as spec.queries.exprs; over the API, send exprs"})
		}
	}
	c := &s.Criteria
	if v := c.MaxQueryErrorPct; v != nil && (math.IsNaN(*v) || *v < 0 || *v > 100) {
		errs = append(errs, problem.FieldError{Path: "spec.criteria.max_query_error_pct", Message: "must be a percentage between 0 and 100"})
	}
	if c.MaxQueryErrorPct != nil && len(s.QueryExprs()) == 0 {
		errs = append(errs, problem.FieldError{Path: "spec.criteria.max_query_error_pct", Message: "needs spec.queries: the queries whose error is measured"})
	}
	return errs
}

// worstQuery is the criterion's measured value: the worst window error of
// the evaluated queries, in percent. Queries outside the PromQL subset are
// listed in the results as not evaluated and never count as passing: with
// none evaluated the criterion is not measured.
func worstQuery(qs []apiv1.QueryResult) (*float64, string) {
	worst, n, notEval := 0.0, 0, 0
	for _, q := range qs {
		if !q.Evaluated || q.MaxRelError == nil {
			notEval++
			continue
		}
		n++
		worst = max(worst, *q.MaxRelError)
	}
	if n == 0 {
		if len(qs) == 0 {
			return nil, "no query was scored"
		}
		return nil, fmt.Sprintf("none of %d queries could be evaluated (%s: %s)", len(qs), qs[0].Expr, qs[0].NotEvaluatedReason)
	}
	v := worst * 100
	return &v, ""
}
