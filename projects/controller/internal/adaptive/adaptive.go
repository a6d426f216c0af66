// Package adaptive chooses, per target (an agent selector), which of a few
// stored pipelines ("modes", from the least to the most strict) the target
// runs, from the measured active series of its stream.
//
// A switch needs the measurement past the mode's threshold by the
// hysteresis (default 10%) on either side, and the current mode to have run
// for the minimum dwell (default 2 min); an explosion (series multiplied by
// the explosion factor since the previous measurement) switches to the
// strictest mode at once. More than five switches in 30 min raise an
// oscillation alert. Each switch is a Decision record (measurements,
// reason, the pipeline version deployed); an Applier deploys it as a
// rollout. A policy is off by default; in shadow mode it decides and
// records but never applies.
//
// RolloutApplier creates the rollout through the controller's rollout
// API. Store keeps policies and their last decisions; Loop measures each
// enabled policy's stream through analytics every interval, decides,
// records, applies and publishes adaptive events. The controller runs the
// loop; internal/adaptiveapi serves /api/v1/adaptive.
package adaptive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Actions of a policy.
const (
	ActionOff    = "off"    // no decisions (the default)
	ActionShadow = "shadow" // decide and record, never apply
	ActionApply  = "apply"  // decide, record and apply as a rollout
)

// Defaults.
const (
	DefaultHysteresis          = 0.10
	DefaultMinDwell            = 2 * time.Minute
	DefaultExplosionFactor     = 2.0
	DefaultOscillationSwitches = 5
	DefaultOscillationWindow   = 30 * time.Minute
)

// Mode is one stored pipeline a target may run.
type Mode struct {
	Name            string `json:"name" yaml:"name"`
	PipelineID      string `json:"pipeline_id" yaml:"pipeline_id"`
	PipelineVersion int    `json:"pipeline_version" yaml:"pipeline_version"`
	// UpTo is the most active series this mode is meant for; the next
	// (stricter) mode takes over above it. The last mode has none (0).
	UpTo float64 `json:"up_to,omitempty" yaml:"up_to"`
}

// Policy is what a user configures for one target.
type Policy struct {
	ID       string            `json:"id"`
	Selector map[string]string `json:"selector"` // the target's agents
	Stream   string            `json:"stream"`   // whose active series are measured
	Modes    []Mode            `json:"modes"`    // least strict first
	Action   string            `json:"action"`   // Action*; "" = off
	// Hysteresis is the relative margin past a threshold a measurement
	// needs to switch, on both sides (0 = DefaultHysteresis).
	Hysteresis float64       `json:"hysteresis,omitempty"`
	MinDwell   time.Duration `json:"min_dwell,omitempty"` // 0 = DefaultMinDwell
	// ExplosionFactor: series at least this many times the previous
	// measurement switch to the strictest mode at once (0 = default).
	ExplosionFactor     float64       `json:"explosion_factor,omitempty"`
	OscillationSwitches int           `json:"oscillation_switches,omitempty"` // 0 = default
	OscillationWindow   time.Duration `json:"oscillation_window,omitempty"`   // 0 = default
}

// withDefaults fills zero fields.
func (p Policy) withDefaults() Policy {
	if p.Action == "" {
		p.Action = ActionOff
	}
	if p.Hysteresis == 0 {
		p.Hysteresis = DefaultHysteresis
	}
	if p.MinDwell == 0 {
		p.MinDwell = DefaultMinDwell
	}
	if p.ExplosionFactor == 0 {
		p.ExplosionFactor = DefaultExplosionFactor
	}
	if p.OscillationSwitches == 0 {
		p.OscillationSwitches = DefaultOscillationSwitches
	}
	if p.OscillationWindow == 0 {
		p.OscillationWindow = DefaultOscillationWindow
	}
	return p
}

// Validate reports every problem of the policy at once, naming its field.
func (p Policy) Validate() error {
	var errs []error
	if len(p.Selector) == 0 {
		errs = append(errs, errors.New("selector: at least one label"))
	}
	if p.Stream == "" {
		errs = append(errs, errors.New("stream: required"))
	}
	switch p.Action {
	case "", ActionOff, ActionShadow, ActionApply:
	default:
		errs = append(errs, fmt.Errorf("action: %q is not off, shadow or apply", p.Action))
	}
	if len(p.Modes) < 2 {
		errs = append(errs, errors.New("modes: at least two"))
	}
	seen := map[string]bool{}
	for i, m := range p.Modes {
		where := fmt.Sprintf("modes[%d]", i)
		if m.Name == "" || seen[m.Name] {
			errs = append(errs, fmt.Errorf("%s.name: required and unique", where))
		}
		seen[m.Name] = true
		if m.PipelineID == "" {
			errs = append(errs, fmt.Errorf("%s.pipeline_id: required", where))
		}
		last := i == len(p.Modes)-1
		switch {
		case last && m.UpTo != 0:
			errs = append(errs, fmt.Errorf("%s.up_to: the strictest mode has no upper bound", where))
		case !last && m.UpTo <= 0:
			errs = append(errs, fmt.Errorf("%s.up_to: must be positive", where))
		case !last && i > 0 && m.UpTo <= p.Modes[i-1].UpTo:
			errs = append(errs, fmt.Errorf("%s.up_to: must be above modes[%d].up_to", where, i-1))
		}
	}
	if p.Hysteresis < 0 || p.Hysteresis >= 0.5 {
		errs = append(errs, errors.New("hysteresis: from 0 to 0.5 (exclusive)"))
	}
	if p.MinDwell < 0 || p.OscillationWindow < 0 || p.OscillationSwitches < 0 {
		errs = append(errs, errors.New("min_dwell, oscillation_window, oscillation_switches: must not be negative"))
	}
	if p.ExplosionFactor != 0 && p.ExplosionFactor <= 1 {
		errs = append(errs, errors.New("explosion_factor: must be above 1"))
	}
	return errors.Join(errs...)
}

// Decision is the record of one switch (or, in shadow mode, of one switch
// that would have been made).
type Decision struct {
	PolicyID        string    `json:"policy_id"`
	Time            time.Time `json:"time"`
	ActiveSeries    float64   `json:"active_series"`
	PreviousSeries  float64   `json:"previous_series"`
	From            string    `json:"from"`
	To              string    `json:"to"`
	PipelineID      string    `json:"pipeline_id"`
	PipelineVersion int       `json:"pipeline_version"`
	Reason          string    `json:"reason"`
	Emergency       bool      `json:"emergency"`
	Shadow          bool      `json:"shadow"`
	Applied         bool      `json:"applied"`
	RolloutID       string    `json:"rollout_id,omitempty"`
	Error           string    `json:"error,omitempty"`
	// Oscillating is set when this switch makes more than
	// OscillationSwitches in OscillationWindow: an alert should be raised.
	Oscillating bool `json:"oscillating"`
	Switches    int  `json:"switches_in_window"`
}

// Applier deploys a mode's pipeline to a target as a rollout and returns
// the rollout's id.
type Applier interface {
	Apply(ctx context.Context, selector map[string]string, pipelineID string, version int, reason string) (string, error)
}

// Controller runs one policy. It is not safe for concurrent use.
type Controller struct {
	p        Policy
	apply    Applier
	current  int // index into p.Modes
	since    time.Time
	previous float64
	measured bool
	switches []time.Time // within the oscillation window, oldest first
}

// New starts a controller whose target runs mode initial (a mode name; ""
// = the least strict) since start.
func New(p Policy, apply Applier, initial string, start time.Time) (*Controller, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("adaptive policy %s: %w", p.ID, err)
	}
	c := &Controller{p: p.withDefaults(), apply: apply, since: start}
	if initial != "" {
		c.current = -1
		for i, m := range p.Modes {
			if m.Name == initial {
				c.current = i
			}
		}
		if c.current < 0 {
			return nil, fmt.Errorf("adaptive policy %s: initial mode %q is not one of its modes", p.ID, initial)
		}
	}
	return c, nil
}

// Current is the mode the target runs (or, in shadow mode, would run).
func (c *Controller) Current() string { return c.p.Modes[c.current].Name }

// target is the mode a measurement calls for from the current one: a
// stricter mode only past a threshold plus the hysteresis, a laxer one only
// below a threshold minus it.
func (c *Controller) target(series float64) int {
	h := c.p.Hysteresis
	t := c.current
	for t < len(c.p.Modes)-1 && series > c.p.Modes[t].UpTo*(1+h) {
		t++
	}
	if t != c.current {
		return t
	}
	for t > 0 && series < c.p.Modes[t-1].UpTo*(1-h) {
		t--
	}
	return t
}

// Observe takes one measurement of the target's active series at now and
// returns the decision it leads to, or nil when the mode stays.
func (c *Controller) Observe(ctx context.Context, now time.Time, series float64) *Decision {
	if c.p.Action == ActionOff {
		return nil
	}
	prev, had := c.previous, c.measured
	c.previous, c.measured = series, true
	last := len(c.p.Modes) - 1
	var to int
	var reason string
	emergency := false
	switch {
	case had && prev > 0 && series >= prev*c.p.ExplosionFactor && c.current < last:
		to, emergency = last, true
		reason = fmt.Sprintf("explosion: active series %.0f, %.1f× the previous measurement %.0f (factor %.1f): "+
			"straight to the strictest mode", series, series/prev, prev, c.p.ExplosionFactor)
	default:
		to = c.target(series)
		if to == c.current {
			return nil
		}
		if dwelt := now.Sub(c.since); dwelt < c.p.MinDwell {
			return nil // too soon after the last switch
		}
		from := c.p.Modes[c.current]
		if to > c.current {
			reason = fmt.Sprintf("active series %.0f above %s's bound %.0f by more than %.0f%%", series, from.Name, from.UpTo, c.p.Hysteresis*100)
		} else {
			lower := c.p.Modes[to]
			reason = fmt.Sprintf("active series %.0f below %s's bound %.0f by more than %.0f%%", series, lower.Name, lower.UpTo, c.p.Hysteresis*100)
		}
	}
	m := c.p.Modes[to]
	d := &Decision{PolicyID: c.p.ID, Time: now.UTC(), ActiveSeries: series, PreviousSeries: prev, From: c.p.Modes[c.current].Name,
		To: m.Name, PipelineID: m.PipelineID, PipelineVersion: m.PipelineVersion, Reason: reason, Emergency: emergency,
		Shadow: c.p.Action == ActionShadow}
	if !d.Shadow {
		id, err := c.apply.Apply(ctx, c.p.Selector, m.PipelineID, m.PipelineVersion, "adaptive "+c.p.ID+": "+reason)
		if err != nil {
			// The target still runs the old mode: the next measurement
			// decides again.
			d.Error = strings.TrimSpace(err.Error())
			return d
		}
		d.Applied, d.RolloutID = true, id
	}
	c.current, c.since = to, now
	// The switches of the window, bounded by it (at most one per
	// measurement, and old ones dropped).
	keep := c.switches[:0]
	for _, t := range c.switches {
		if now.Sub(t) < c.p.OscillationWindow {
			keep = append(keep, t)
		}
	}
	c.switches = append(keep, now)
	d.Switches = len(c.switches)
	d.Oscillating = d.Switches > c.p.OscillationSwitches
	return d
}
