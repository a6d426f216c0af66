package experiment

import "time"

// Progress is the runner's durable memory of an experiment: what it
// deployed where, and when each phase began, so a restarted controller
// resumes instead of starting over.
type Progress struct {
	Agents []AgentProgress `json:"agents,omitempty"`
	// PhaseStarted is when the current timed phase (warming, running)
	// began; the runner compares it with its clock.
	PhaseStarted time.Time `json:"phase_started,omitzero"`
	// WindowFrom and WindowTo bound the measured data (after warm-up).
	WindowFrom time.Time `json:"window_from,omitzero"`
	WindowTo   time.Time `json:"window_to,omitzero"`
	// Restored is set once every agent runs its previous config again.
	Restored bool `json:"restored,omitempty"`
}

// AgentProgress is one selected agent: the config it ran before, and what
// the experiment pushed to it.
type AgentProgress struct {
	ID                 string `json:"id"`
	PreviousConfigHash string `json:"previous_config_hash,omitempty"`
}
