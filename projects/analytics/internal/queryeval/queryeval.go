// Package queryeval evaluates the subset of PromQL that per-query fidelity
// scores: the queries of dashboards and rule files, evaluated on a
// baseline and a candidate stream at every rollup tick.
//
// Queries are parsed by the Prometheus parser (UTF-8 names allowed, so both
// `process_cpu_time_seconds_total{host_name="a"}` and
// `{"process.cpu.time", "host.name"="a"}` parse). Check says whether the
// evaluator covers a query; what it does not cover is reported as not
// evaluated, never scored. The subset:
//
//   - instant vector selectors with any matchers;
//   - rate(v[r]) and increase(v[r]) over counters, from the samples the
//     caller holds in (t-r, t] (resets: a drop counts the new value);
//   - sum, avg, min, max, count by/without, and topk/bottomk with a
//     number literal k;
//   - number literals, unary minus, parentheses, and + - * / between a
//     vector and a scalar, two scalars, or two vectors matched one to one on
//     all labels (or on(...)/ignoring(...)), without group modifiers.
//
// Offsets, @, subqueries, comparisons, other functions and aggregations are
// outside it.
package queryeval

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// MaxExprBytes bounds a query's text.
const MaxExprBytes = 16 << 10

// MaxRange bounds the range of rate/increase: the caller keeps samples that
// far back.
const MaxRange = time.Hour

var newParser = parser.NewParser(parser.Options{EnableUnquotedUTF8Names: true})

// Query is a parsed query the evaluator covers.
type Query struct {
	Expr     parser.Expr
	Metrics  []string      // metric names the selectors ask for (by __name__ equality)
	MaxRange time.Duration // the longest range of a range function, 0 when none
}

// ErrNotEvaluated wraps why a query is outside the subset.
var ErrNotEvaluated = errors.New("not evaluated")

// Parse parses expr and checks it is in the subset. A query the parser
// refuses is an error; one it accepts but the subset does not cover wraps
// ErrNotEvaluated with the reason.
func Parse(expr string) (*Query, error) {
	if len(expr) > MaxExprBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrNotEvaluated, MaxExprBytes)
	}
	e, err := newParser.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	q := &Query{Expr: e}
	if err := q.check(e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotEvaluated, err)
	}
	if e.Type() != parser.ValueTypeVector && e.Type() != parser.ValueTypeScalar {
		return nil, fmt.Errorf("%w: the query answers a %s, not an instant vector", ErrNotEvaluated, e.Type())
	}
	slices.Sort(q.Metrics)
	q.Metrics = slices.Compact(q.Metrics)
	return q, nil
}

func (q *Query) check(n parser.Expr) error {
	switch e := n.(type) {
	case *parser.NumberLiteral:
		return nil
	case *parser.ParenExpr:
		return q.check(e.Expr)
	case *parser.StepInvariantExpr:
		return q.check(e.Expr)
	case *parser.UnaryExpr:
		return q.check(e.Expr)
	case *parser.VectorSelector:
		if e.OriginalOffset != 0 || e.Timestamp != nil || e.StartOrEnd != 0 {
			return errors.New("offset and @ modifiers are not supported")
		}
		name := metricName(e)
		if name == "" {
			return errors.New("a selector without a metric name (__name__=\"...\") is not supported")
		}
		q.Metrics = append(q.Metrics, name)
		return nil
	case *parser.MatrixSelector:
		return errors.New("a range vector outside rate or increase is not supported")
	case *parser.Call:
		switch e.Func.Name {
		case "rate", "increase":
			ms, ok := e.Args[0].(*parser.MatrixSelector)
			if !ok {
				return fmt.Errorf("%s over a subquery is not supported", e.Func.Name)
			}
			if ms.Range > MaxRange {
				return fmt.Errorf("%s range %s is longer than %s", e.Func.Name, ms.Range, MaxRange)
			}
			q.MaxRange = max(q.MaxRange, ms.Range)
			return q.check(ms.VectorSelector)
		}
		return fmt.Errorf("function %s is not supported", e.Func.Name)
	case *parser.AggregateExpr:
		switch e.Op {
		case parser.SUM, parser.AVG, parser.MIN, parser.MAX, parser.COUNT:
		case parser.TOPK, parser.BOTTOMK:
			if _, ok := unwrap(e.Param).(*parser.NumberLiteral); !ok {
				return fmt.Errorf("%s needs a number literal k", e.Op)
			}
		default:
			return fmt.Errorf("aggregation %s is not supported", e.Op)
		}
		return q.check(e.Expr)
	case *parser.BinaryExpr:
		switch e.Op {
		case parser.ADD, parser.SUB, parser.MUL, parser.DIV:
		default:
			return fmt.Errorf("operator %s is not supported", e.Op)
		}
		if vm := e.VectorMatching; vm != nil && vm.Card != parser.CardOneToOne && lhsRhsVectors(e) {
			return errors.New("group_left/group_right is not supported")
		}
		if err := q.check(e.LHS); err != nil {
			return err
		}
		return q.check(e.RHS)
	}
	return fmt.Errorf("%T is not supported", n)
}

func unwrap(e parser.Expr) parser.Expr {
	for {
		switch x := e.(type) {
		case *parser.ParenExpr:
			e = x.Expr
		case *parser.StepInvariantExpr:
			e = x.Expr
		default:
			return e
		}
	}
}

func lhsRhsVectors(e *parser.BinaryExpr) bool {
	return e.LHS.Type() == parser.ValueTypeVector && e.RHS.Type() == parser.ValueTypeVector
}

func metricName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// Sample is one observation of a series.
type Sample struct {
	T time.Time
	V float64
}

// Series is one series the caller holds: its labels (with __name__) and
// its samples, oldest first; the last one is its current value.
type Series struct {
	Labels  labels.Labels
	Samples []Sample
}

// Data gives the evaluator the series of a metric as of the evaluation
// time: name is as the query writes it; the caller maps it to its own names.
type Data interface {
	Series(name string) []*Series
}

// Elem is one element of a result vector.
type Elem struct {
	Labels labels.Labels
	V      float64
}

// Result is a query's value at one instant: a vector (Scalar false) or a
// scalar (Elems holds one element without labels).
type Result struct {
	Elems  []Elem
	Scalar bool
}

// Limits bound an evaluation.
type Limits struct {
	MaxSeries int // series one selector may return; more fail the evaluation
}

// Eval evaluates q at t over d.
func Eval(q *Query, t time.Time, d Data, lim Limits) (Result, error) {
	if lim.MaxSeries <= 0 {
		lim.MaxSeries = 100_000
	}
	ev := &evaluator{t: t, d: d, lim: lim}
	v, err := ev.eval(q.Expr)
	if err != nil {
		return Result{}, err
	}
	if v.scalar {
		return Result{Elems: []Elem{{V: v.s}}, Scalar: true}, nil
	}
	return Result{Elems: v.vec}, nil
}

type value struct {
	scalar bool
	s      float64
	vec    []Elem
}

type evaluator struct {
	t   time.Time
	d   Data
	lim Limits
}

func (ev *evaluator) eval(n parser.Expr) (value, error) {
	switch e := n.(type) {
	case *parser.NumberLiteral:
		return value{scalar: true, s: e.Val}, nil
	case *parser.ParenExpr:
		return ev.eval(e.Expr)
	case *parser.StepInvariantExpr:
		return ev.eval(e.Expr)
	case *parser.UnaryExpr:
		v, err := ev.eval(e.Expr)
		if err != nil || e.Op != parser.SUB {
			return v, err
		}
		if v.scalar {
			v.s = -v.s
			return v, nil
		}
		out := make([]Elem, len(v.vec))
		for i, el := range v.vec {
			out[i] = Elem{Labels: dropName(el.Labels), V: -el.V}
		}
		return value{vec: out}, nil
	case *parser.VectorSelector:
		ss, err := ev.selectSeries(e)
		if err != nil {
			return value{}, err
		}
		out := make([]Elem, 0, len(ss))
		for _, s := range ss {
			if n := len(s.Samples); n > 0 {
				out = append(out, Elem{Labels: s.Labels, V: s.Samples[n-1].V})
			}
		}
		return value{vec: out}, nil
	case *parser.Call:
		return ev.call(e)
	case *parser.AggregateExpr:
		return ev.aggregate(e)
	case *parser.BinaryExpr:
		return ev.binary(e)
	}
	return value{}, fmt.Errorf("%w: %T", ErrNotEvaluated, n)
}

func (ev *evaluator) selectSeries(vs *parser.VectorSelector) ([]*Series, error) {
	all := ev.d.Series(metricName(vs))
	var out []*Series
	for _, s := range all {
		ok := true
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName {
				continue
			}
			if !m.Matches(s.Labels.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			if len(out) >= ev.lim.MaxSeries {
				return nil, fmt.Errorf("selector %s: more than %d series", vs, ev.lim.MaxSeries)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// call evaluates rate and increase over the samples in (t-range, t].
func (ev *evaluator) call(e *parser.Call) (value, error) {
	ms, ok := e.Args[0].(*parser.MatrixSelector)
	if !ok {
		return value{}, fmt.Errorf("%w: %s", ErrNotEvaluated, e.Func.Name)
	}
	vs := ms.VectorSelector.(*parser.VectorSelector)
	ss, err := ev.selectSeries(vs)
	if err != nil {
		return value{}, err
	}
	from := ev.t.Add(-ms.Range)
	var out []Elem
	for _, s := range ss {
		inc, first, last, n := Increase(s.Samples, from, ev.t)
		if n < 2 || !last.After(first) {
			continue // as in PromQL: a rate needs two samples in the range
		}
		v := inc
		if e.Func.Name == "rate" {
			v = inc / last.Sub(first).Seconds()
		} else {
			// Extrapolated to the whole range, as PromQL's increase roughly is.
			v = inc * ms.Range.Seconds() / last.Sub(first).Seconds()
		}
		out = append(out, Elem{Labels: dropName(s.Labels), V: v})
	}
	return value{vec: out}, nil
}

// Increase sums a counter's rises over the samples in (from, to]: a drop is
// a reset, and the value after it counts whole. It returns the first and
// last sample times in the range and how many samples it used.
func Increase(ss []Sample, from, to time.Time) (inc float64, first, last time.Time, n int) {
	var prev float64
	for _, s := range ss {
		if !s.T.After(from) || s.T.After(to) || math.IsNaN(s.V) {
			continue
		}
		if n == 0 {
			first = s.T
		} else if s.V >= prev {
			inc += s.V - prev
		} else {
			inc += s.V
		}
		prev, last = s.V, s.T
		n++
	}
	return inc, first, last, n
}

func dropName(ls labels.Labels) labels.Labels {
	if ls.Get(labels.MetricName) == "" {
		return ls
	}
	return labels.NewBuilder(ls).Del(labels.MetricName).Labels()
}

func groupLabels(ls labels.Labels, grouping []string, without bool) labels.Labels {
	b := labels.NewBuilder(ls)
	if without {
		b.Del(labels.MetricName)
		b.Del(grouping...)
		return b.Labels()
	}
	b.Keep(grouping...)
	return b.Labels()
}

type aggAcc struct {
	ls       labels.Labels
	sum      float64
	min, max float64
	n        int
	elems    []Elem // topk/bottomk
}

func (ev *evaluator) aggregate(e *parser.AggregateExpr) (value, error) {
	in, err := ev.eval(e.Expr)
	if err != nil {
		return value{}, err
	}
	groups := map[uint64]*aggAcc{}
	var order []uint64
	for _, el := range in.vec {
		g := groupLabels(el.Labels, e.Grouping, e.Without)
		h := g.Hash()
		a := groups[h]
		if a == nil {
			a = &aggAcc{ls: g, min: math.Inf(1), max: math.Inf(-1)}
			groups[h] = a
			order = append(order, h)
		}
		a.sum += el.V
		a.min = math.Min(a.min, el.V)
		a.max = math.Max(a.max, el.V)
		a.n++
		if e.Op == parser.TOPK || e.Op == parser.BOTTOMK {
			a.elems = append(a.elems, el)
		}
	}
	var out []Elem
	switch e.Op {
	case parser.TOPK, parser.BOTTOMK:
		kv, err := ev.eval(e.Param)
		if err != nil {
			return value{}, err
		}
		k := int(kv.s)
		for _, h := range order {
			a := groups[h]
			sort.SliceStable(a.elems, func(i, j int) bool {
				if e.Op == parser.TOPK {
					return a.elems[i].V > a.elems[j].V
				}
				return a.elems[i].V < a.elems[j].V
			})
			out = append(out, a.elems[:max(0, min(k, len(a.elems)))]...)
		}
		return value{vec: out}, nil
	}
	for _, h := range order {
		a := groups[h]
		var v float64
		switch e.Op {
		case parser.SUM:
			v = a.sum
		case parser.AVG:
			v = a.sum / float64(a.n)
		case parser.MIN:
			v = a.min
		case parser.MAX:
			v = a.max
		case parser.COUNT:
			v = float64(a.n)
		}
		out = append(out, Elem{Labels: a.ls, V: v})
	}
	return value{vec: out}, nil
}

func arith(op parser.ItemType, a, b float64) float64 {
	switch op {
	case parser.ADD:
		return a + b
	case parser.SUB:
		return a - b
	case parser.MUL:
		return a * b
	default:
		return a / b
	}
}

func (ev *evaluator) binary(e *parser.BinaryExpr) (value, error) {
	l, err := ev.eval(e.LHS)
	if err != nil {
		return value{}, err
	}
	r, err := ev.eval(e.RHS)
	if err != nil {
		return value{}, err
	}
	switch {
	case l.scalar && r.scalar:
		return value{scalar: true, s: arith(e.Op, l.s, r.s)}, nil
	case l.scalar:
		out := make([]Elem, len(r.vec))
		for i, el := range r.vec {
			out[i] = Elem{Labels: dropName(el.Labels), V: arith(e.Op, l.s, el.V)}
		}
		return value{vec: out}, nil
	case r.scalar:
		out := make([]Elem, len(l.vec))
		for i, el := range l.vec {
			out[i] = Elem{Labels: dropName(el.Labels), V: arith(e.Op, el.V, r.s)}
		}
		return value{vec: out}, nil
	}
	var on, ignoring []string
	if vm := e.VectorMatching; vm != nil {
		if vm.On {
			on = vm.MatchingLabels
		} else {
			ignoring = vm.MatchingLabels
		}
	}
	sig := func(ls labels.Labels) uint64 {
		b := labels.NewBuilder(ls)
		if on != nil || (e.VectorMatching != nil && e.VectorMatching.On) {
			b.Keep(on...)
		} else {
			b.Del(labels.MetricName)
			b.Del(ignoring...)
		}
		return b.Labels().Hash()
	}
	right := map[uint64]Elem{}
	for _, el := range r.vec {
		h := sig(el.Labels)
		if _, dup := right[h]; dup {
			return value{}, fmt.Errorf("%w: many-to-one matching on the right side", ErrNotEvaluated)
		}
		right[h] = el
	}
	seen := map[uint64]bool{}
	var out []Elem
	for _, el := range l.vec {
		h := sig(el.Labels)
		re, ok := right[h]
		if !ok {
			continue
		}
		if seen[h] {
			return value{}, fmt.Errorf("%w: many-to-one matching on the left side", ErrNotEvaluated)
		}
		seen[h] = true
		ls := dropName(el.Labels)
		if e.VectorMatching != nil && e.VectorMatching.On {
			ls = labels.NewBuilder(ls).Keep(on...).Labels()
		}
		out = append(out, Elem{Labels: ls, V: arith(e.Op, el.V, re.V)})
	}
	return value{vec: out}, nil
}

// Key renders an element's labels as a stable group key.
func Key(ls labels.Labels) string {
	var b strings.Builder
	ls.Range(func(l labels.Label) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(l.Value)
	})
	return b.String()
}
