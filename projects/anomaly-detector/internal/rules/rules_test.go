package rules

import (
	"math"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func rule(kind string, threshold float64) apiv1.AlertRule {
	return apiv1.AlertRule{ID: "ar-1", Name: "r", Team: "t", Stream: "s", Kind: kind, Severity: apiv1.SeverityHigh,
		Threshold: threshold, PriceModel: "datadog", Metric: "up", Signal: ActiveSeries}
}

// run feeds values to one rule and returns the changes in order.
func run(t *testing.T, e *Engine, r apiv1.AlertRule, inputs []Input) []Change {
	t.Helper()
	var out []Change
	at := time.Unix(0, 0)
	for _, in := range inputs {
		in.Stream = "s"
		at = at.Add(10 * time.Second)
		res := e.Evaluate([]apiv1.AlertRule{r}, in, at)
		c := Unchanged
		if len(res) > 1 {
			t.Fatalf("%d results for one rule", len(res))
		}
		if len(res) == 1 {
			c = res[0].Change
		}
		out = append(out, c)
	}
	return out
}

func series(vs ...float64) []Input {
	out := make([]Input, len(vs))
	for i, v := range vs {
		out[i] = Input{Values: map[string]float64{ActiveSeries: v, NewSeriesPerMin: v}, Scores: map[string]float64{ActiveSeries: v},
			MonthlyCost: map[string]float64{"datadog": v}}
	}
	return out
}

func count(cs []Change, c Change) int {
	n := 0
	for _, x := range cs {
		if x == c {
			n++
		}
	}
	return n
}

func TestThresholdKinds(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		threshold float64
		values    []float64
		want      []Change
	}{
		{apiv1.RuleMaxActiveSeries, 1000, []float64{900, 1001, 1200, 800, 800, 800, 800},
			[]Change{Unchanged, Fired, Held, Held, Held, Resolved, Unchanged}},
		{apiv1.RuleChurn, 50, []float64{10, 60, 10, 10, 10}, []Change{Unchanged, Fired, Held, Held, Resolved}},
		{apiv1.RuleMaxMonthlyCost, 100, []float64{99, 100, 100.5, 0, 0, 0}, []Change{Unchanged, Unchanged, Fired, Held, Held, Resolved}},
		{apiv1.RuleDetectorSeverity, 0.8, []float64{0.5, 0.8, 0.75, 0.7, 0.1, 0.1, 0.1}, []Change{Unchanged, Fired, Held, Held, Held, Resolved, Unchanged}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			got := run(t, New(Settings{ClearWindows: 3}), rule(tc.kind, tc.threshold), series(tc.values...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v", got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("step %d: got %v, want %v", i, got, tc.want)
				}
			}
		})
	}
}

// TestHoveringDoesNotFlap: a series oscillating ±5 % around the threshold
// for 500 rollups fires once and never resolves, because it never leaves
// the 10 % band; without hysteresis it would fire and resolve dozens of
// times.
func TestHoveringDoesNotFlap(t *testing.T) {
	vals := make([]float64, 500)
	for i := range vals {
		vals[i] = 10_000 * (1 + 0.05*math.Sin(float64(i)*0.7))
	}
	got := run(t, New(Settings{Hysteresis: 0.1, ClearWindows: 3}), rule(apiv1.RuleMaxActiveSeries, 10_000), series(vals...))
	if f, r := count(got, Fired), count(got, Resolved); f != 1 || r != 0 {
		t.Fatalf("fired %d times, resolved %d times; want 1 and 0", f, r)
	}
	// The same series with a band too small to hold it flaps: the test
	// can fail.
	got = run(t, New(Settings{Hysteresis: 0.001, ClearWindows: 1}), rule(apiv1.RuleMaxActiveSeries, 10_000), series(vals...))
	if f := count(got, Fired); f < 10 {
		t.Fatalf("without a band: fired %d times, expected flapping", f)
	}
}

// TestBandBounceDoesNotResolve: a value leaving the band for two rollups,
// then re-entering it, restarts the clear count.
func TestBandBounceDoesNotResolve(t *testing.T) {
	got := run(t, New(Settings{Hysteresis: 0.1, ClearWindows: 3}), rule(apiv1.RuleMaxActiveSeries, 1000),
		series(1100, 800, 800, 950, 800, 800, 950, 800, 800, 800))
	want := []Change{Fired, Held, Held, Held, Held, Held, Held, Held, Held, Resolved}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestCriticalSignalLost(t *testing.T) {
	in := func(ms map[string]int64) Input { return Input{MetricSeries: ms} }
	got := run(t, New(Settings{ClearWindows: 1}), rule(apiv1.RuleCriticalSignalLost, 0), []Input{
		in(map[string]int64{"other": 5}),               // never seen: not lost
		in(map[string]int64{"up": 3}),                  // seen
		in(map[string]int64{"x": 3, OtherMetrics: 10}), // maybe in _other_: unknown
		in(map[string]int64{"x": 3}),                   // gone
		in(map[string]int64{"x": 3}),
		in(map[string]int64{"up": 2}), // back
	})
	want := []Change{Unchanged, Unchanged, Unchanged, Fired, Held, Resolved}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestExplosionAndUnknown(t *testing.T) {
	e := New(Settings{ClearWindows: 2})
	r := rule(apiv1.RuleExplosion, 0)
	got := run(t, e, r, []Input{{}, {Exploding: true, ExplodeMetric: "m", ExplodeLabel: "l"}, {Exploding: true}, {}, {}})
	want := []Change{Unchanged, Fired, Held, Held, Resolved}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// Cost unknown while firing: held, not resolved.
	e = New(Settings{ClearWindows: 1})
	got = run(t, e, rule(apiv1.RuleMaxMonthlyCost, 10), append(series(20), Input{}, Input{}))
	if got[0] != Fired || got[1] != Held || got[2] != Held {
		t.Fatalf("unknown cost: %v", got)
	}
}

func TestBoundsAndApplies(t *testing.T) {
	e := New(Settings{MaxStates: 1})
	a, b := rule(apiv1.RuleMaxActiveSeries, 1), rule(apiv1.RuleMaxActiveSeries, 1)
	b.ID = "ar-2"
	res := e.Evaluate([]apiv1.AlertRule{a, b}, Input{Stream: "s", Values: map[string]float64{ActiveSeries: 5}}, time.Now())
	if len(res) != 1 || e.Refused() != 1 {
		t.Fatalf("results %d, refused %d", len(res), e.Refused())
	}
	e.Forget(a.ID)
	if u := e.Usage(a.ID); len(u) != 0 {
		t.Fatalf("usage after forget: %v", u)
	}
	global := apiv1.AlertRule{Team: "t"}
	for _, tc := range []struct {
		r            apiv1.AlertRule
		stream, team string
		want         bool
	}{
		{a, "s", "x", true}, {a, "other", "t", false}, {global, "any", "t", true}, {global, "any", "u", false}, {global, "any", "", false},
	} {
		if got := Applies(tc.r, tc.stream, tc.team); got != tc.want {
			t.Errorf("Applies(%+v, %s, %s) = %v", tc.r, tc.stream, tc.team, got)
		}
	}
}

func TestRestoreKeepsFiring(t *testing.T) {
	e := New(Settings{ClearWindows: 2})
	e.Restore("ar-1", "s")
	got := run(t, e, rule(apiv1.RuleMaxActiveSeries, 100), series(500, 10, 10))
	if got[0] != Held || got[2] != Resolved {
		t.Fatalf("after restore: %v", got)
	}
}
