package apiv1

import "time"

// Rollout states, as the API and the CLI spell them. The controller's
// internal/rollout types its State constants from these.
const (
	RolloutRolling    = "rolling"
	RolloutSucceeded  = "succeeded"
	RolloutRolledBack = "rolled_back"
	RolloutAborted    = "aborted"
)

// CreateRolloutRequest is the body of POST /api/v1/rollouts: one stored
// pipeline version (Version 0: the latest) for every agent of the team
// matching Selector, all at once or staged in percent Steps with a Pause
// (a Go duration, "30s") after each.
type CreateRolloutRequest struct {
	PipelineID string            `json:"pipeline_id"`
	Version    int               `json:"version,omitempty"`
	Selector   map[string]string `json:"selector"`
	Strategy   string            `json:"strategy,omitempty"`
	Steps      []int             `json:"steps,omitempty"`
	Pause      string            `json:"pause,omitempty"`
	// Critical are label matchers of entities analytics must still
	// receive on Stream ("" = default) after every step.
	Critical []string `json:"critical,omitempty"`
	Stream   string   `json:"stream,omitempty"`
}

// Rollout is one rollout as GET /api/v1/rollouts/{id} answers it (and an
// item of the list, and the answer of create and abort).
type Rollout struct {
	ID              string            `json:"id"`
	Team            string            `json:"team"`
	State           string            `json:"state"`
	Reason          string            `json:"reason,omitempty"`
	Version         int64             `json:"version"`
	Selector        map[string]string `json:"selector"`
	PipelineID      string            `json:"pipeline_id"`
	PipelineVersion int               `json:"pipeline_version"`
	ConfigHash      string            `json:"config_hash"`
	Strategy        string            `json:"strategy"`
	Steps           []int             `json:"steps"`
	Pause           string            `json:"pause"`
	Critical        []string          `json:"critical,omitempty"`
	Stream          string            `json:"stream,omitempty"`
	Progress        RolloutProgress   `json:"progress"`
	CreatedBy       string            `json:"created_by"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// RolloutProgress is where a rollout is: its agents (fixed at the first
// step), the current step and whether its pause runs.
type RolloutProgress struct {
	Agents   []string `json:"agents"`
	Step     int      `json:"step"`
	Pausing  bool     `json:"pausing"`
	Restored bool     `json:"restored"`
	Note     string   `json:"note,omitempty"`
}
