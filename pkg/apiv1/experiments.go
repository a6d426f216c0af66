package apiv1

import (
	"encoding/json"
	"time"
)

// Experiment states, as the API and the CLI spell them. The controller's
// lifecycle (projects/controller/internal/experiment) types its State
// constants from these, so a client and the server cannot disagree on a name.
const (
	ExperimentDraft        = "draft"
	ExperimentPending      = "pending"
	ExperimentDeploying    = "deploying"
	ExperimentWarming      = "warming"
	ExperimentRunning      = "running"
	ExperimentAnalyzing    = "analyzing"
	ExperimentSucceeded    = "succeeded"
	ExperimentFailed       = "failed"
	ExperimentInconclusive = "inconclusive"
	ExperimentPromoting    = "promoting"
	ExperimentPromoted     = "promoted"
	ExperimentRolledBack   = "rolled_back"
	ExperimentCancelled    = "cancelled"
	ExperimentErrored      = "errored"
)

// ExperimentTerminal reports whether state is final: no event leaves it.
// Succeeded is not final (it waits for a promotion), which is why a client
// that waits for a verdict also stops at succeeded.
func ExperimentTerminal(state string) bool {
	switch state {
	case ExperimentFailed, ExperimentInconclusive, ExperimentPromoted, ExperimentRolledBack,
		ExperimentCancelled, ExperimentErrored:
		return true
	}
	return false
}

// Experiment is one experiment as GET /api/v1/experiments/{id} answers it
// (and an item of the list, and the answer of create and of each action).
// Spec is the stored spec document with its defaults applied
// (api/schemas/experiment.yaml); clients show it, the controller parses it.
type Experiment struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Team      string             `json:"team"`
	State     string             `json:"state"`
	Version   int64              `json:"version"`
	Spec      json.RawMessage    `json:"spec"`
	Progress  ExperimentProgress `json:"progress"`
	Results   *ExperimentResults `json:"results"` // null until analyzed
	CreatedBy string             `json:"created_by"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// ExperimentProgress is where a running experiment is: its agents, when
// its current phase began, the measured window, and why it waits.
type ExperimentProgress struct {
	Agents         []string  `json:"agents"`
	PhaseStarted   time.Time `json:"phase_started,omitzero"`
	WindowFrom     time.Time `json:"window_from,omitzero"`
	WindowTo       time.Time `json:"window_to,omitzero"`
	Restored       bool      `json:"restored"`
	RolloutStep    int       `json:"rollout_step"`
	RolloutPausing bool      `json:"rollout_pausing"`
	Note           string    `json:"note,omitempty"`
}

// ExperimentTransition is one entry of GET /api/v1/experiments/{id}/events:
// who or what moved the experiment, when and why. From is empty for the
// first entry (event create).
type ExperimentTransition struct {
	ExperimentID string    `json:"experiment_id"`
	Seq          int64     `json:"seq"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Event        string    `json:"event"`
	Actor        string    `json:"actor"`
	Reason       string    `json:"reason"`
	At           time.Time `json:"at"`
}

// ExperimentOutcome is a verdict: an experiment's (succeeded, failed,
// inconclusive) or one candidate's (passed, failed, inconclusive).
type ExperimentOutcome string

// ExperimentResults is an analysis, GET /api/v1/experiments/{id}/results:
// the outcome, the winner (the cheapest candidate that passed every
// criterion) and per candidate each criterion's measured value, threshold
// and result.
type ExperimentResults struct {
	Outcome    ExperimentOutcome           `json:"outcome"`
	Winner     string                      `json:"winner,omitempty"`
	Reasons    []string                    `json:"reasons"`
	From       time.Time                   `json:"from,omitzero"`
	To         time.Time                   `json:"to,omitzero"`
	Candidates []ExperimentCandidateResult `json:"candidates"`
}

// ExperimentCandidateResult is one candidate's verdict.
type ExperimentCandidateResult struct {
	Name     string                      `json:"name"`
	Stream   string                      `json:"stream"`
	Outcome  ExperimentOutcome           `json:"outcome"` // passed, failed or inconclusive
	Failed   []string                    `json:"failed_criteria,omitempty"`
	Reasons  []string                    `json:"reasons,omitempty"`
	Windows  int                         `json:"windows"`
	Criteria []ExperimentCriterionResult `json:"criteria"`
	// Queries are the per-query fidelity scores (spec.queries), worst
	// first; a query outside the PromQL subset is listed not evaluated.
	Queries []QueryResult `json:"queries,omitempty"`
}

// ExperimentCriterionResult is one criterion of one candidate. Measured and
// Threshold are percentages; Comparison is ">=" or "<=". Measured is null
// with MeasuredUnknownReason when it was not measured, and Result is then
// "unknown", never "pass".
type ExperimentCriterionResult struct {
	Criterion             string   `json:"criterion"`
	Measured              *float64 `json:"measured"`
	MeasuredUnknownReason string   `json:"measured_unknown_reason,omitempty"`
	Comparison            string   `json:"comparison"`
	Threshold             float64  `json:"threshold"`
	Result                string   `json:"result"`
}
