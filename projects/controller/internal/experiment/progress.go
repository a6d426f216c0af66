package experiment

import "time"

// Progress is the runner's durable memory of an experiment: which agents
// it runs on and what they ran before, and when the current phase began,
// so a restarted controller resumes instead of starting over.
type Progress struct {
	// Agents are the selected agents, fixed when the experiment leaves
	// pending, sorted by id.
	Agents []AgentProgress `json:"agents,omitempty"`
	// PhaseStarted is when the current phase (deploying, warming, running,
	// a rollout step or its pause) began; the runner compares it with its
	// clock.
	PhaseStarted time.Time `json:"phase_started,omitzero"`
	// WindowFrom and WindowTo bound the measured data (after warm-up).
	WindowFrom time.Time `json:"window_from,omitzero"`
	WindowTo   time.Time `json:"window_to,omitzero"`
	// Restored is set once every agent was given back its previous config
	// after the experiment stopped without a promotion.
	Restored bool `json:"restored,omitempty"`
	// RolloutStep is the promotion's current step (index into the spec's
	// rollout steps; 0 for strategy all); RolloutPausing is set while the
	// step's pause runs.
	RolloutStep    int  `json:"rollout_step,omitempty"`
	RolloutPausing bool `json:"rollout_pausing,omitempty"`
	// Note says why the experiment waits, for `phoenix experiment get`.
	Note string `json:"note,omitempty"`
}

// AgentProgress is one selected agent and the config it ran before the
// experiment, which it gets back when the experiment ends unpromoted.
type AgentProgress struct {
	ID                 string `json:"id"`
	PreviousConfigHash string `json:"previous_config_hash,omitempty"`
}

// agentIDs lists the progress's agent ids.
func (p *Progress) agentIDs() []string {
	out := make([]string, len(p.Agents))
	for i, a := range p.Agents {
		out[i] = a.ID
	}
	return out
}
