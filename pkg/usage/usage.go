// Package usage finds which metrics and labels dashboards and alerting or
// recording rules actually use, by parsing their PromQL with the Prometheus
// parser. The generator never recommends dropping what is used.
//
// A label counts as used by a metric when removing it could change what a
// query shows: labels in matchers, in by(...) and on(...) clauses, in
// label_replace/label_join sources, and every label of a series a query
// shows without aggregating it away (a bare selector, or without(...),
// or a one-to-one binary operation matching on all labels).
package usage

import (
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Bounds: every input is untrusted.
const (
	MaxExprBytes = 64 << 10 // longer expressions are skipped and reported
	MaxIssues    = 100      // issues kept; later ones are counted only
	MaxMetrics   = 100000   // distinct metric names tracked
)

// MetricUse is what a set of queries needs from one metric.
type MetricUse struct {
	// All: every label matters except those in Except.
	All    bool
	Except map[string]bool
	// Labels used by name (when All is false, only these matter).
	Labels map[string]bool
}

// Uses reports whether dropping label would change a query.
func (m *MetricUse) Uses(label string) bool {
	if m.All && !m.Except[label] {
		return true
	}
	return m.Labels[label]
}

// Issue is an expression that could not be parsed.
type Issue = apiv1.UsageIssue

// Set accumulates usage over many files.
type Set struct {
	// Metrics by Prometheus name.
	Metrics map[string]*MetricUse
	// Patterns are __name__ regex matchers: every metric whose name matches
	// is used with the pattern's MetricUse.
	Patterns []Pattern
	Issues   []Issue
	// IssuesDropped counts issues beyond MaxIssues; MetricsDropped counts
	// metric names beyond MaxMetrics.
	IssuesDropped  int
	MetricsDropped int
	// Exprs counts parsed expressions.
	Exprs int
	// Queries are the parsed expressions with where they came from, in
	// order, up to MaxQueries (QueriesDropped counts the rest): per-query
	// fidelity evaluates them.
	Queries        []Query
	QueriesDropped int
	parser         parser.Parser
}

// Query is one parsed expression of a dashboard panel, variable or rule.
type Query struct {
	Source string `json:"source"`
	Expr   string `json:"expr"`
}

// MaxQueries bounds Set.Queries.
const MaxQueries = 1000

// Pattern is a metric-name regex and its use.
type Pattern struct {
	Regex *regexp.Regexp
	Use   *MetricUse
}

// NewSet returns an empty usage set.
func NewSet() *Set {
	return &Set{
		Metrics: map[string]*MetricUse{},
		parser:  parser.NewParser(parser.Options{EnableExperimentalFunctions: true}),
	}
}

// Lookup returns the use of a Prometheus metric name, merging regex
// patterns that match it; nil when unused.
func (s *Set) Lookup(promName string) *MetricUse {
	var out *MetricUse
	merge := func(u *MetricUse) {
		if out == nil {
			out = &MetricUse{Labels: map[string]bool{}}
		}
		mergeUse(out, u)
	}
	if u, ok := s.Metrics[promName]; ok {
		merge(u)
	}
	for _, p := range s.Patterns {
		if p.Regex.MatchString(promName) {
			merge(p.Use)
		}
	}
	return out
}

// MetricNames lists the metrics used by name, sorted.
func (s *Set) MetricNames() []string {
	out := make([]string, 0, len(s.Metrics))
	for n := range s.Metrics {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Set) issue(source, expr, msg string) {
	if len(s.Issues) >= MaxIssues {
		s.IssuesDropped++
		return
	}
	if len(expr) > 200 {
		expr = expr[:200] + "..."
	}
	s.Issues = append(s.Issues, Issue{Source: source, Expr: expr, Message: msg})
}

// AddExpr parses one PromQL expression and records what it uses.
func (s *Set) AddExpr(source, expr string) {
	if len(expr) > MaxExprBytes {
		s.issue(source, expr, fmt.Sprintf("expression longer than %d bytes skipped", MaxExprBytes))
		return
	}
	e, err := s.parser.ParseExpr(expr)
	if err != nil {
		s.issue(source, expr, err.Error())
		return
	}
	s.Exprs++
	if len(s.Queries) < MaxQueries {
		s.Queries = append(s.Queries, Query{Source: source, Expr: expr})
	} else {
		s.QueriesDropped++
	}
	s.walk(e, ctxAll(nil))
}

// ctx is the set of labels of a subexpression's result that the enclosing
// query depends on.
type ctx struct {
	all    bool
	except map[string]bool // with all
	labels map[string]bool // without all
}

func ctxAll(except []string) ctx {
	c := ctx{all: true, except: map[string]bool{}}
	for _, l := range except {
		c.except[l] = true
	}
	return c
}

func ctxLabels(ls ...[]string) ctx {
	c := ctx{labels: map[string]bool{}}
	for _, l := range ls {
		for _, x := range l {
			c.labels[x] = true
		}
	}
	return c
}

// with adds labels to a context.
func (c ctx) with(ls ...string) ctx {
	if c.all {
		ex := map[string]bool{}
		for k := range c.except {
			if !slices.Contains(ls, k) {
				ex[k] = true
			}
		}
		return ctx{all: true, except: ex}
	}
	n := ctx{labels: map[string]bool{}}
	for k := range c.labels {
		n.labels[k] = true
	}
	for _, l := range ls {
		n.labels[l] = true
	}
	return n
}

func (s *Set) walk(n parser.Node, c ctx) {
	switch e := n.(type) {
	case *parser.AggregateExpr:
		var child ctx
		switch {
		case e.Without:
			child = ctxAll(e.Grouping)
		case e.Op == parser.TOPK || e.Op == parser.BOTTOMK || e.Op == parser.LIMITK || e.Op == parser.LIMIT_RATIO:
			// These keep the input series with all their labels.
			child = c.with(e.Grouping...)
		default:
			child = ctxLabels(e.Grouping)
		}
		s.walk(e.Expr, child)
		if e.Param != nil {
			s.walk(e.Param, ctxAll(nil))
		}
	case *parser.BinaryExpr:
		lc, rc := c, c
		if vm := e.VectorMatching; vm != nil && lhsRhsVectors(e) {
			switch {
			case vm.On:
				lc = c.with(append(slices.Clone(vm.MatchingLabels), vm.Include...)...)
				rc = lc
			default:
				// ignoring(...) or no clause: series match on every other label.
				lc = ctxAll(vm.MatchingLabels)
				rc = lc
			}
		}
		s.walk(e.LHS, lc)
		s.walk(e.RHS, rc)
	case *parser.Call:
		switch e.Func.Name {
		case "label_replace":
			// label_replace(v, dst, replacement, src, regex)
			if len(e.Args) == 5 {
				if src, ok := e.Args[3].(*parser.StringLiteral); ok {
					c = c.with(src.Val)
				}
			}
		case "label_join":
			// label_join(v, dst, separator, src...)
			for _, a := range e.Args[min(3, len(e.Args)):] {
				if src, ok := a.(*parser.StringLiteral); ok {
					c = c.with(src.Val)
				}
			}
		case "sort_by_label", "sort_by_label_desc":
			for _, a := range e.Args[min(1, len(e.Args)):] {
				if l, ok := a.(*parser.StringLiteral); ok {
					c = c.with(l.Val)
				}
			}
		}
		for _, a := range e.Args {
			s.walk(a, c)
		}
	case *parser.ParenExpr:
		s.walk(e.Expr, c)
	case *parser.UnaryExpr:
		s.walk(e.Expr, c)
	case *parser.SubqueryExpr:
		s.walk(e.Expr, c)
	case *parser.StepInvariantExpr:
		s.walk(e.Expr, c)
	case *parser.MatrixSelector:
		s.walk(e.VectorSelector, c)
	case *parser.VectorSelector:
		s.record(e, c)
	}
}

// lhsRhsVectors: vector matching applies only between two instant vectors.
func lhsRhsVectors(e *parser.BinaryExpr) bool {
	return e.LHS.Type() == parser.ValueTypeVector && e.RHS.Type() == parser.ValueTypeVector
}

func (s *Set) record(vs *parser.VectorSelector, c ctx) {
	use := &MetricUse{All: c.all, Except: map[string]bool{}, Labels: map[string]bool{}}
	for k := range c.except {
		use.Except[k] = true
	}
	for k := range c.labels {
		use.Labels[k] = true
	}
	name := vs.Name
	var nameRe *regexp.Regexp
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			switch m.Type {
			case labels.MatchEqual:
				name = m.Value
			case labels.MatchRegexp:
				if re, err := regexp.Compile("^(?:" + m.Value + ")$"); err == nil {
					nameRe = re
				}
			}
			continue
		}
		use.Labels[m.Name] = true
		delete(use.Except, m.Name)
	}
	switch {
	case name != "":
		prev, ok := s.Metrics[name]
		if !ok {
			if len(s.Metrics) >= MaxMetrics {
				s.MetricsDropped++
				return
			}
			prev = &MetricUse{Except: map[string]bool{}, Labels: map[string]bool{}}
			prev.All = use.All
			for k := range use.Except {
				prev.Except[k] = true
			}
			for k := range use.Labels {
				prev.Labels[k] = true
			}
			s.Metrics[name] = prev
			return
		}
		mergeUse(prev, use)
	case nameRe != nil:
		if len(s.Patterns) >= MaxMetrics {
			s.MetricsDropped++
			return
		}
		s.Patterns = append(s.Patterns, Pattern{Regex: nameRe, Use: use})
	}
}

// mergeUse folds b into a: a label is used if either uses it.
func mergeUse(a, b *MetricUse) {
	for k := range b.Labels {
		a.Labels[k] = true
	}
	switch {
	case a.All && b.All:
		// Excepted only if excepted by both.
		for k := range a.Except {
			if !b.Except[k] {
				delete(a.Except, k)
			}
		}
	case b.All:
		a.All = true
		a.Except = map[string]bool{}
		for k := range b.Except {
			if !a.Labels[k] {
				a.Except[k] = true
			}
		}
	}
	for k := range a.Labels {
		delete(a.Except, k)
	}
}
