package adaptive

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

type fakeApplier struct {
	calls []string
	err   error
}

func (f *fakeApplier) Apply(_ context.Context, sel map[string]string, pipeline string, version int, reason string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.calls = append(f.calls, pipeline)
	return "ro-" + pipeline, nil
}

func policy(action string) Policy {
	return Policy{ID: "p1", Selector: map[string]string{"env": "prod"}, Stream: "default", Action: action,
		Modes: []Mode{
			{Name: "conservative", PipelineID: "pl-cons", PipelineVersion: 1, UpTo: 10_000},
			{Name: "balanced", PipelineID: "pl-bal", PipelineVersion: 2, UpTo: 50_000},
			{Name: "aggressive", PipelineID: "pl-agg", PipelineVersion: 3},
		}}
}

// jitter is a deterministic pseudo-random value in [-1, 1].
func jitter(i int) float64 {
	v := math.Sin(float64(i)*12.9898) * 43758.5453
	return 2*(v-math.Floor(v)) - 1
}

var start = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const hour = time.Hour

// run feeds series(i) every 30 s for n measurements and returns the
// decisions.
func run(t *testing.T, c *Controller, n int, series func(i int) float64) []*Decision {
	t.Helper()
	var out []*Decision
	for i := range n {
		if d := c.Observe(context.Background(), start.Add(time.Duration(i+1)*30*time.Second), series(i)); d != nil {
			out = append(out, d)
		}
	}
	return out
}

func TestDecisions(t *testing.T) {
	tests := []struct {
		name    string
		policy  func() Policy
		n       int
		series  func(i int) float64
		initial string
		// want is the sequence of modes switched to.
		want        []string
		applied     int
		oscillating bool
		check       func(t *testing.T, ds []*Decision)
	}{
		{name: "hovering at a threshold: hysteresis holds", policy: func() Policy { return policy(ActionApply) }, n: 240,
			// 10,000 ± 8%: inside the 10% band around conservative's bound.
			series: func(i int) float64 { return 10_000 * (1 + 0.05*math.Sin(float64(i)/5) + 0.03*jitter(i)) }, want: nil},
		{name: "hovering without hysteresis flaps", policy: func() Policy {
			p := policy(ActionApply)
			p.Hysteresis, p.MinDwell = 1e-9, time.Nanosecond
			return p
		}, n: 240, series: func(i int) float64 { return 10_000 * (1 + 0.05*math.Sin(float64(i)/5) + 0.03*jitter(i)) },
			oscillating: true, check: func(t *testing.T, ds []*Decision) {
				if len(ds) < 10 {
					t.Fatalf("%d switches: the hovering series should flap without hysteresis", len(ds))
				}
			}},
		{name: "hovering without hysteresis flaps even with the dwell", policy: func() Policy {
			p := policy(ActionApply)
			p.Hysteresis = 1e-9
			return p
		}, n: 240, series: func(i int) float64 { return 10_000 * (1 + 0.05*math.Sin(float64(i)/5) + 0.03*jitter(i)) },
			// The dwell spaces the switches (about 4 in 30 min, under the
			// alert), but they keep coming.
			check: func(t *testing.T, ds []*Decision) {
				if len(ds) < 10 {
					t.Fatalf("%d switches: the dwell alone should not stop the flapping", len(ds))
				}
			}},
		{name: "hovering around balanced from balanced", policy: func() Policy { return policy(ActionApply) }, initial: "balanced", n: 240,
			series: func(i int) float64 { return 10_000 * (1 - 0.04 + 0.05*jitter(i)) }, want: nil},
		{name: "steady growth steps up once per bound", policy: func() Policy { return policy(ActionApply) }, n: 200,
			series: func(i int) float64 { return 5_000 + 400*float64(i) }, want: []string{"balanced", "aggressive"}, applied: 2,
			check: func(t *testing.T, ds []*Decision) {
				// balanced only past 11,000, aggressive only past 55,000.
				if ds[0].ActiveSeries <= 11_000 || ds[1].ActiveSeries <= 55_000 || ds[0].Emergency || ds[1].PipelineVersion != 3 {
					t.Errorf("decisions %+v %+v", *ds[0], *ds[1])
				}
			}},
		{name: "decline steps down below the bound minus the margin", policy: func() Policy { return policy(ActionApply) }, initial: "aggressive", n: 200,
			series: func(i int) float64 { return 70_000 - 400*float64(i) }, want: []string{"balanced", "conservative"}, applied: 2,
			check: func(t *testing.T, ds []*Decision) {
				if ds[0].ActiveSeries >= 45_000 || ds[1].ActiveSeries >= 9_000 {
					t.Errorf("decisions at %v and %v", ds[0].ActiveSeries, ds[1].ActiveSeries)
				}
			}},
		{name: "minimum dwell defers a second switch", policy: func() Policy { return policy(ActionApply) }, n: 8,
			series: func(i int) float64 {
				if i == 0 {
					return 30_000 // to balanced at 30 s
				}
				return 56_000 // aggressive is due at once (not an explosion: < 2×), allowed from 2m30s
			}, want: []string{"balanced", "aggressive"}, applied: 2, check: func(t *testing.T, ds []*Decision) {
				if gap := ds[1].Time.Sub(ds[0].Time); gap < DefaultMinDwell {
					t.Errorf("second switch %s after the first", gap)
				}
			}},
		{name: "explosion skips the dwell and goes to the strictest", policy: func() Policy { return policy(ActionApply) }, n: 4,
			series: func(i int) float64 { return []float64{20_000, 21_000, 80_000, 80_000}[i] },
			want:   []string{"balanced", "aggressive"}, applied: 2, check: func(t *testing.T, ds []*Decision) {
				if !ds[1].Emergency || !strings.Contains(ds[1].Reason, "explosion") || ds[1].Time.Sub(ds[0].Time) >= DefaultMinDwell {
					t.Errorf("decision %+v", *ds[1])
				}
			}},
		{name: "oscillation alert past five switches in 30 min", policy: func() Policy { return policy(ActionApply) }, n: 60,
			// Every 2.5 min between 2,000 and 30,000: each swing passes the
			// margins and the dwell.
			series: func(i int) float64 {
				if (i/5)%2 == 0 {
					return 2_000
				}
				return 30_000
			}, oscillating: true, check: func(t *testing.T, ds []*Decision) {
				if len(ds) < 6 || ds[4].Oscillating || !ds[5].Oscillating || ds[5].Switches != 6 {
					t.Fatalf("%d decisions; 5th oscillating %v, 6th %v", len(ds), ds[4].Oscillating, ds[5].Oscillating)
				}
			}},
		{name: "shadow decides and records, applies nothing", policy: func() Policy { return policy(ActionShadow) }, n: 200,
			series: func(i int) float64 { return 5_000 + 400*float64(i) }, want: []string{"balanced", "aggressive"}, applied: 0,
			check: func(t *testing.T, ds []*Decision) {
				for _, d := range ds {
					if !d.Shadow || d.Applied || d.RolloutID != "" {
						t.Errorf("shadow decision %+v", *d)
					}
				}
			}},
		{name: "off by default", policy: func() Policy { return policy("") }, n: 200,
			series: func(i int) float64 { return 5_000 + 400*float64(i) }, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &fakeApplier{}
			// The target has run its initial mode for an hour.
			c, err := New(tt.policy(), app, tt.initial, start.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			ds := run(t, c, tt.n, tt.series)
			if tt.want != nil || tt.check == nil {
				var got []string
				for _, d := range ds {
					got = append(got, d.To)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("switches %v, want %v", got, tt.want)
				}
			}
			if tt.want != nil && len(app.calls) != tt.applied {
				t.Errorf("applied %d rollouts, want %d", len(app.calls), tt.applied)
			}
			osc := false
			for _, d := range ds {
				osc = osc || d.Oscillating
				if d.Reason == "" || d.PipelineID == "" || d.Time.IsZero() {
					t.Errorf("incomplete record %+v", *d)
				}
			}
			if osc != tt.oscillating {
				t.Errorf("oscillating %v, want %v", osc, tt.oscillating)
			}
			if tt.check != nil {
				tt.check(t, ds)
			}
		})
	}
}

func TestApplyFailureKeepsTheMode(t *testing.T) {
	app := &fakeApplier{err: errors.New("no agent matches")}
	c, err := New(policy(ActionApply), app, "", start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Observe(context.Background(), start.Add(time.Minute), 20_000)
	if d == nil || d.Applied || d.Error != "no agent matches" || c.Current() != "conservative" {
		t.Fatalf("decision %+v, current %s", d, c.Current())
	}
	app.err = nil
	if d = c.Observe(context.Background(), start.Add(90*time.Second), 20_000); d == nil || !d.Applied || c.Current() != "balanced" {
		t.Fatalf("retry %+v, current %s", d, c.Current())
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Policy)
		want   []string
	}{
		{"valid", func(*Policy) {}, nil},
		{"one mode", func(p *Policy) { p.Modes = p.Modes[:1] }, []string{"modes: at least two"}},
		{"bounds out of order", func(p *Policy) { p.Modes[1].UpTo = 5_000 }, []string{"modes[1].up_to: must be above"}},
		{"strictest bounded", func(p *Policy) { p.Modes[2].UpTo = 1 }, []string{"modes[2].up_to: the strictest"}},
		{"everything", func(p *Policy) {
			p.Selector, p.Stream, p.Action, p.Hysteresis, p.ExplosionFactor = nil, "", "maybe", 0.7, 0.5
			p.Modes[0].PipelineID, p.Modes[1].Name = "", "conservative"
		}, []string{"selector", "stream", "action", "hysteresis", "explosion_factor", "modes[0].pipeline_id", "modes[1].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(ActionApply)
			tt.mutate(&p)
			err := p.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	if _, err := New(policy(ActionApply), &fakeApplier{}, "turbo", start); err == nil {
		t.Error("unknown initial mode accepted")
	}
}
