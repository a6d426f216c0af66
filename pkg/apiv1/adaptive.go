package apiv1

import "time"

// Adaptive policy actions, as the API spells them.
const (
	AdaptiveOff    = "off"    // no decisions (the default)
	AdaptiveShadow = "shadow" // decide and record, never apply
	AdaptiveApply  = "apply"  // decide, record and deploy as a rollout
)

// AdaptiveMode is one stored pipeline version an adaptive target may run.
// UpTo is the most active series the mode is meant for; the strictest
// (last) mode has none.
type AdaptiveMode struct {
	Name            string  `json:"name" yaml:"name"`
	PipelineID      string  `json:"pipeline_id" yaml:"pipeline_id"`
	PipelineVersion int     `json:"pipeline_version" yaml:"pipeline_version"`
	UpTo            float64 `json:"up_to,omitempty" yaml:"up_to"`
}

// AdaptivePolicySpec is what a user writes: the body of POST and PUT
// /api/v1/adaptive/policies. Durations are Go durations ("2m"); zero
// values take the defaults (hysteresis 0.1, min_dwell 2m, explosion_factor
// 2, oscillation_switches 5, oscillation_window 30m).
type AdaptivePolicySpec struct {
	Selector            map[string]string `json:"selector" yaml:"selector"`
	Stream              string            `json:"stream" yaml:"stream"`
	Modes               []AdaptiveMode    `json:"modes" yaml:"modes"`
	Action              string            `json:"action,omitempty" yaml:"action"`
	Hysteresis          float64           `json:"hysteresis,omitempty" yaml:"hysteresis"`
	MinDwell            string            `json:"min_dwell,omitempty" yaml:"min_dwell"`
	ExplosionFactor     float64           `json:"explosion_factor,omitempty" yaml:"explosion_factor"`
	OscillationSwitches int               `json:"oscillation_switches,omitempty" yaml:"oscillation_switches"`
	OscillationWindow   string            `json:"oscillation_window,omitempty" yaml:"oscillation_window"`
}

// AdaptivePolicy is a stored policy as the API answers it. Mode is the
// mode the controller believes the target runs ("" before its first
// switch: the least strict), since ModeSince.
type AdaptivePolicy struct {
	ID      string `json:"id"`
	Team    string `json:"team"`
	Version int64  `json:"version"`
	AdaptivePolicySpec
	Mode      string     `json:"mode"`
	ModeSince *time.Time `json:"mode_since"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// AdaptiveDecision is the record of one switch, made or (shadow) only
// decided: the measurement, the reason and the pipeline version deployed.
type AdaptiveDecision struct {
	ID               string    `json:"id"`
	PolicyID         string    `json:"policy_id"`
	Team             string    `json:"team"`
	Time             time.Time `json:"time"`
	ActiveSeries     float64   `json:"active_series"`
	PreviousSeries   float64   `json:"previous_series"`
	From             string    `json:"from"`
	To               string    `json:"to"`
	PipelineID       string    `json:"pipeline_id"`
	PipelineVersion  int       `json:"pipeline_version"`
	Reason           string    `json:"reason"`
	Emergency        bool      `json:"emergency"`
	Shadow           bool      `json:"shadow"`
	Applied          bool      `json:"applied"`
	RolloutID        string    `json:"rollout_id,omitempty"`
	Error            string    `json:"error,omitempty"`
	Oscillating      bool      `json:"oscillating"`
	SwitchesInWindow int       `json:"switches_in_window"`
}
