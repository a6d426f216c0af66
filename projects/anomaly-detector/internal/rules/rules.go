// Package rules evaluates user alert rules (/api/v1/alert-rules) on each
// rollup of a stream, with two-sided hysteresis: a rule fires as soon as
// its value crosses the threshold, and resolves only after the value has
// stayed below threshold*(1-Hysteresis) for ClearWindows rollups in a row.
// A series hovering at the threshold therefore fires once and stays firing
// instead of flapping. It holds no I/O: the service feeds it rollups and
// turns its Results into alerts.
package rules

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Signals of Input.Values and Input.Scores (the detector's names).
const (
	ActiveSeries    = "active_series"
	NewSeriesPerMin = "new_series_per_min"
)

// OtherMetrics is the rollup's bucket for metrics beyond its top list: a
// metric missing from a rollup that has it may still have series.
const OtherMetrics = "_other_"

// Settings configure an Engine.
type Settings struct {
	// Hysteresis is the band under the threshold, as a fraction of it, a
	// value must fall below before the rule counts as clear (0.1 = 10 %).
	Hysteresis float64
	// ClearWindows is how many rollups in a row the value must stay clear
	// before the rule resolves.
	ClearWindows int
	// MaxStates bounds the (rule, stream) states held; beyond it a new
	// pair is not evaluated (Refused counts them).
	MaxStates int
}

// Input is what one rollup of a stream showed.
type Input struct {
	Stream       string
	Values       map[string]float64 // by signal
	Scores       map[string]float64 // detector scores by signal, in [0,1]
	MetricSeries map[string]int64   // series per metric (top metrics, rest in OtherMetrics)
	// Exploding is true while the detector's explosion condition holds on
	// the stream; Metric and Label name its cause when known.
	Exploding     bool
	ExplodeMetric string
	ExplodeLabel  string
	// MonthlyCost is the projected monthly cost by price model; a model
	// missing is unknown, and a rule on it keeps its state.
	MonthlyCost map[string]float64
	Currency    string
}

// Change is what an evaluation did to a rule's state on a stream.
type Change int

// Changes.
const (
	Unchanged Change = iota // not firing before or after, or unknown
	Fired                   // started firing
	Held                    // was firing and still is (value updated)
	Resolved                // was firing and has been clear long enough
)

// Result is one rule's evaluation on one stream.
type Result struct {
	Rule    apiv1.AlertRule
	Stream  string
	Change  Change
	Value   float64
	Metric  string
	Label   string
	Summary string
}

type key struct{ rule, stream string }

type state struct {
	firing bool
	clear  int     // rollups in a row the value was clear, while firing
	seen   bool    // critical_signal_lost: the metric had series once
	value  float64 // last value
	at     time.Time
	known  bool // value was measured at least once
}

// Engine keeps each (rule, stream)'s state. Safe for concurrent use.
type Engine struct {
	s       Settings
	mu      sync.Mutex
	states  map[key]*state
	refused int64
}

// New returns an engine; zero settings get defaults (10 %, 3 windows,
// 100,000 states).
func New(s Settings) *Engine {
	if s.Hysteresis <= 0 {
		s.Hysteresis = 0.1
	}
	if s.ClearWindows < 1 {
		s.ClearWindows = 3
	}
	if s.MaxStates < 1 {
		s.MaxStates = 100_000
	}
	return &Engine{s: s, states: map[key]*state{}}
}

// Applies reports whether r is evaluated on stream (r's own stream, or
// every stream of its team when r.Stream is empty; team is the stream's).
func Applies(r apiv1.AlertRule, stream, team string) bool {
	if r.Stream != "" {
		return r.Stream == stream
	}
	return team != "" && r.Team == team
}

// Restore marks (rule, stream) as firing: an alert of it was open when the
// service stopped, so it resolves by the same hysteresis instead of firing
// again.
func (e *Engine) Restore(ruleID, stream string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := key{ruleID, stream}
	if _, ok := e.states[k]; !ok && len(e.states) < e.s.MaxStates {
		e.states[k] = &state{firing: true, seen: true}
	}
}

// Forget drops a deleted rule's states.
func (e *Engine) Forget(ruleID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.states {
		if k.rule == ruleID {
			delete(e.states, k)
		}
	}
}

// Usage is a rule's last measured value on a stream.
type Usage struct {
	Stream string
	Value  float64
	Firing bool
	At     time.Time
}

// Usage returns the last value of rule on every stream it was measured on.
func (e *Engine) Usage(ruleID string) []Usage {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Usage
	for k, st := range e.states {
		if k.rule == ruleID && st.known {
			out = append(out, Usage{Stream: k.stream, Value: st.value, Firing: st.firing, At: st.at})
		}
	}
	return out
}

// Refused is how many (rule, stream) pairs were not evaluated because
// MaxStates was reached.
func (e *Engine) Refused() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refused
}

// Evaluate runs every rule that applies (the caller filters with Applies)
// on one rollup and returns a Result per rule whose state is or was firing.
func (e *Engine) Evaluate(rs []apiv1.AlertRule, in Input, at time.Time) []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Result
	for _, r := range rs {
		k := key{r.ID, in.Stream}
		st := e.states[k]
		if st == nil {
			if len(e.states) >= e.s.MaxStates {
				e.refused++
				continue
			}
			st = &state{}
			e.states[k] = st
		}
		m := measure(r, in, st, e.s.Hysteresis)
		if !m.known {
			if st.firing {
				out = append(out, Result{Rule: r, Stream: in.Stream, Change: Held, Value: st.value, Summary: m.summary})
			}
			continue
		}
		st.value, st.at, st.known = m.value, at, true
		res := Result{Rule: r, Stream: in.Stream, Value: m.value, Metric: m.metric, Label: m.label, Summary: m.summary}
		switch {
		case m.over:
			st.clear = 0
			res.Change = Held
			if !st.firing {
				st.firing, res.Change = true, Fired
			}
		case !st.firing:
			continue
		case m.clear:
			st.clear++
			res.Change = Held
			if st.clear >= e.s.ClearWindows {
				st.firing, st.clear, res.Change = false, 0, Resolved
			}
		default:
			// Inside the hysteresis band: neither over nor clear. The
			// count of clear rollups restarts, so a value bouncing in
			// and out of the band does not resolve and refire.
			st.clear = 0
			res.Change = Held
		}
		out = append(out, res)
	}
	return out
}

type measurement struct {
	known, over, clear bool
	value              float64
	metric, label      string
	summary            string
}

// measure computes r's value on in and whether it is over the threshold or
// clear of the hysteresis band h (a fraction of the threshold).
func measure(r apiv1.AlertRule, in Input, st *state, h float64) measurement {
	var m measurement
	threshold := r.Threshold
	over := func(v float64, what, unit string) {
		m.known, m.value = true, v
		m.over = v > threshold
		m.clear = v <= threshold*(1-h)
		m.summary = fmt.Sprintf("%s of stream %s is %s%s (budget %s%s, rule %q)", what, in.Stream, fmtNum(v), unit, fmtNum(threshold), unit, r.Name)
	}
	switch r.Kind {
	case apiv1.RuleMaxActiveSeries:
		if v, ok := in.Values[ActiveSeries]; ok {
			over(v, "active series", "")
		}
	case apiv1.RuleChurn:
		if v, ok := in.Values[NewSeriesPerMin]; ok {
			over(v, "new series per minute", "")
		}
	case apiv1.RuleMaxMonthlyCost:
		if v, ok := in.MonthlyCost[r.PriceModel]; ok {
			unit := ""
			if in.Currency != "" {
				unit = " " + in.Currency
			}
			over(v, "projected monthly cost ("+r.PriceModel+")", unit)
		}
	case apiv1.RuleDetectorSeverity:
		if v, ok := in.Scores[r.Signal]; ok {
			m.known, m.value = true, v
			m.over = v >= threshold
			m.clear = v < threshold*(1-h)
			m.summary = fmt.Sprintf("detector score of %s on stream %s is %.2f (rule %q, threshold %.2f)", r.Signal, in.Stream, v, r.Name, threshold)
		}
	case apiv1.RuleExplosion:
		m.known, m.over, m.clear = true, in.Exploding, !in.Exploding
		if in.Exploding {
			m.value = 1
			m.metric, m.label = in.ExplodeMetric, in.ExplodeLabel
		}
		m.summary = fmt.Sprintf("cardinality explosion on stream %s (rule %q)", in.Stream, r.Name)
		if in.ExplodeLabel != "" {
			m.summary = fmt.Sprintf("cardinality explosion on stream %s: label %s on %s (rule %q)", in.Stream, in.ExplodeLabel, in.ExplodeMetric, r.Name)
		}
	case apiv1.RuleCriticalSignalLost:
		n, ok := in.MetricSeries[r.Metric]
		if !ok && in.MetricSeries[OtherMetrics] > 0 {
			// Beyond the rollup's top metrics: unknown, not lost.
			return m
		}
		if in.MetricSeries == nil {
			return m
		}
		if n > 0 {
			st.seen = true
		}
		m.known, m.value, m.metric = true, float64(n), r.Metric
		m.over = st.seen && n == 0
		m.clear = n > 0
		m.summary = fmt.Sprintf("critical signal %s lost from stream %s: %d series (rule %q)", r.Metric, in.Stream, n, r.Name)
	}
	return m
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
