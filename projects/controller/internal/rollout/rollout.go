// Package rollout pushes one stored pipeline version to every agent of a
// team matching a selector, all at once or in percent steps with a pause,
// and gives every agent its previous config back when a step fails. It
// reuses the experiment runner's Deployer, so each push is a recorded,
// set-to-value deployment, and never touches agents an experiment holds.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// State is where a rollout is.
type State string

// Rollout states. Rolling is the only one the runner advances; the others
// are final (aborted and rolled_back once the agents are restored).
const (
	Rolling    State = apiv1.RolloutRolling
	Succeeded  State = apiv1.RolloutSucceeded
	RolledBack State = apiv1.RolloutRolledBack // a step failed: every agent got its previous config back
	Aborted    State = apiv1.RolloutAborted    // stopped by a user: every agent gets its previous config back
)

// Record is one rollout: a config (a stored pipeline version) for
// every agent of a team matching Selector, pushed as Plan says.
type Record struct {
	ID              string             `json:"id"`
	Team            string             `json:"team"`
	Selector        map[string]string  `json:"selector"`
	PipelineID      string             `json:"pipeline_id,omitempty"`
	PipelineVersion int                `json:"pipeline_version,omitempty"`
	Config          string             `json:"config"`
	ConfigHash      string             `json:"config_hash"`
	Plan            experiment.Rollout `json:"plan"`
	// Critical are label matchers (as an experiment's spec.critical) of
	// entities analytics must still receive on Stream after every step;
	// CriticalBaseline is what it received when the agents were selected.
	Critical         []string           `json:"critical,omitempty"`
	Stream           string             `json:"stream,omitempty"` // "" = default
	CriticalBaseline []CriticalEntities `json:"critical_baseline,omitempty"`
	State            State              `json:"state"`
	// Reason says why the rollout is in its state (the failed step).
	Reason    string              `json:"reason,omitempty"`
	Version   int64               `json:"version"`
	Progress  experiment.Progress `json:"progress"`
	CreatedBy string              `json:"created_by"`
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
	// Selected is set once the agents are chosen (an empty selection is
	// a selection too).
	Selected bool `json:"selected,omitempty"`
}

// maxLive bounds the rollouts one reconcile pass looks at.
const maxLive = 500

// Settings configure a Runner.
type Settings struct {
	Store    *Store
	Deployer experiment.Deployer
	Clock    experiment.Clock
	Logger   *slog.Logger
	// ApplyTimeout bounds how long a step's agents may take to run the
	// config healthily (default 2m).
	ApplyTimeout time.Duration
	// Held maps agents experiments (or other owners) hold to their owner,
	// leaving out self; a rollout waits for them.
	Held func(ctx context.Context, self string) (map[string]string, error)
	// Publisher, when set, announces every rollout event (PHOENIX_EVENTS)
	// from the store's outbox after each pass.
	Publisher Publisher
	// Critical, when set, checks after each step that analytics still
	// receives every critical entity of the rollout (see CriticalChecker).
	Critical CriticalChecker
	// CriticalLookback is how far back the entities to keep are read
	// (default DefaultCriticalLookback).
	CriticalLookback time.Duration
}

// Runner advances rollouts one step at a time; like the experiment
// runner it holds nothing the store does not.
type Runner struct {
	s   Settings
	log *slog.Logger
}

// NewRunner returns a runner; Store, Deployer and Clock are required.
func NewRunner(s Settings) (*Runner, error) {
	if s.Store == nil || s.Deployer == nil || s.Clock == nil {
		return nil, errors.New("rollout runner: store, deployer and clock are required")
	}
	if s.ApplyTimeout <= 0 {
		s.ApplyTimeout = 2 * time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.CriticalLookback <= 0 {
		s.CriticalLookback = DefaultCriticalLookback
	}
	return &Runner{s: s, log: s.Logger.With("component", "rollout-runner")}, nil
}

// Reconcile steps every live rollout once (up to maxLive), logging the
// ones that fail; it returns how many it stepped.
func (r *Runner) Reconcile(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for n < maxLive {
		page, err := r.s.Store.Live(ctx, cursor, min(100, maxLive-n))
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		for _, ro := range page {
			if _, err := r.Step(ctx, ro.ID); err != nil {
				r.log.Warn("rollout step failed", "rollout_id", ro.ID, "error", err)
			}
			n++
		}
		cursor = page[len(page)-1].ID
	}
	if err := r.publish(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// Holding maps each agent a live rollout other than self may change the
// config of to "rollout <id>" (experiment.Settings.Held).
func (r *Runner) Holding(ctx context.Context, self string) (map[string]string, error) {
	live, err := r.s.Store.Live(ctx, "", maxLive)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	for _, ro := range live {
		if ro.ID == self || !ro.HoldsAgents() {
			continue
		}
		for _, a := range ro.Progress.Agents {
			held[a.ID] = "rollout " + ro.ID
		}
	}
	return held, nil
}

func (r *Runner) held(ctx context.Context, self string) (map[string]string, error) {
	if r.s.Held == nil {
		return r.Holding(ctx, self)
	}
	held, err := r.s.Held(ctx, self)
	if err != nil {
		return nil, fmt.Errorf("agents held by experiments: %w", err)
	}
	return held, nil
}

func (r *Runner) allRunning(ctx context.Context, ids []string, hash string) (bool, error) {
	for _, id := range ids {
		ok, err := r.s.Deployer.Running(ctx, id, hash)
		if err != nil {
			return false, fmt.Errorf("agent %s: %w", id, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// HoldsAgents reports whether the rollout may change its agents' configs
// still, so no experiment may start on them.
func (r *Record) HoldsAgents() bool {
	return r.State == Rolling || r.State != Succeeded && !r.Progress.Restored && len(r.Progress.Agents) > 0
}

// step moves a rollout at most one step: select its agents, push
// the config to the current step's share of them, check they run it
// healthily, pause, and go on; a step that fails gives every agent of the
// rollout its previous config back (rolled_back).
func (r *Runner) step(ctx context.Context, ro *Record) error {
	now := r.s.Clock.Now().UTC()
	if ro.State != Rolling {
		if !ro.HoldsAgents() {
			return nil
		}
		if err := r.restoreAgents(ctx, ro.Progress.Agents, "end of rollout "+ro.ID+": previous config"); err != nil {
			return err
		}
		ro.Progress.Restored = true
		return r.s.Store.Save(ctx, ro)
	}
	if !ro.Selected {
		agents, err := r.s.Deployer.Select(ctx, ro.Team, ro.Selector)
		if err != nil {
			return fmt.Errorf("select agents of rollout %s: %w", ro.ID, err)
		}
		held, err := r.held(ctx, ro.ID)
		if err != nil {
			return err
		}
		var busy []string
		for _, a := range agents {
			if owner, ok := held[a.ID]; ok {
				busy = append(busy, a.ID+" ("+owner+")")
			}
		}
		if len(busy) > 0 {
			note := "waiting for agents held by another experiment or rollout: " + joinCapped(busy, 5)
			if ro.Progress.Note == note {
				return nil
			}
			ro.Progress.Note = note
			return r.s.Store.Save(ctx, ro)
		}
		sortAgents(agents)
		if len(agents) > 0 {
			base, err := r.criticalBaseline(ctx, ro, now)
			if err != nil {
				return err
			}
			ro.CriticalBaseline = base
		}
		ro.Selected, ro.Progress.Note, ro.Progress.PhaseStarted = true, "", now
		for _, a := range agents {
			ro.Progress.Agents = append(ro.Progress.Agents, experiment.AgentProgress{ID: a.ID, PreviousConfigHash: a.ConfigHash})
		}
		if len(agents) == 0 {
			ro.State, ro.Reason = Succeeded, "no agent matches the selector"
		}
		return r.s.Store.Save(ctx, ro)
	}
	steps := []int{100}
	if ro.Plan.Strategy == experiment.RolloutStaged {
		steps = ro.Plan.Steps
	}
	step := min(ro.Progress.RolloutStep, len(steps)-1)
	ids := agentIDs(ro.Progress.Agents)
	n := (len(ids)*steps[step] + 99) / 100
	what := fmt.Sprintf("step %d (%d%%)", step+1, steps[step])
	last := step == len(steps)-1
	if ro.Progress.RolloutPausing {
		// After a step (the pause; after the last step only the critical
		// check): the agents are still healthy and analytics still
		// receives every critical entity, or the whole rollout rolls back.
		pause := ro.Plan.Pause.Std()
		if last {
			pause = 0
		}
		if now.Sub(ro.Progress.PhaseStarted) < pause {
			return nil
		}
		ok, err := r.allRunning(ctx, ids[:n], ro.ConfigHash)
		if err != nil || !ok {
			return r.rollBack(ctx, ro, what+": an agent became unhealthy during the pause")
		}
		missing, err := r.missingCritical(ctx, ro, ro.Progress.PhaseStarted)
		if err != nil {
			return err
		}
		if missing != "" {
			// Data of the new config may still be on its way: wait up to
			// the apply timeout past the pause before judging.
			if now.Sub(ro.Progress.PhaseStarted) <= pause+r.s.ApplyTimeout {
				return nil
			}
			return r.rollBack(ctx, ro, what+": "+missing)
		}
		if last {
			ro.State, ro.Reason = Succeeded, fmt.Sprintf("%d agents run the config; every critical entity still arrives", len(ids))
			r.log.Info("rollout succeeded", "rollout_id", ro.ID, "agents", len(ids))
			return r.s.Store.Save(ctx, ro)
		}
		ro.Progress.RolloutPausing, ro.Progress.PhaseStarted = false, now
		ro.Progress.RolloutStep++
		return r.s.Store.Save(ctx, ro)
	}
	for _, id := range ids[:n] {
		if err := r.s.Deployer.Set(ctx, id, experiment.DesiredConfig{ConfigHash: ro.ConfigHash, Config: []byte(ro.Config),
			PipelineID: ro.PipelineID, PipelineVersion: ro.PipelineVersion, Reason: "rollout " + ro.ID + " " + what}); err != nil {
			return fmt.Errorf("rollout %s to %s: %w", ro.ID, id, err)
		}
	}
	ok, err := r.allRunning(ctx, ids[:n], ro.ConfigHash)
	if err != nil {
		return r.rollBack(ctx, ro, what+": "+err.Error())
	}
	if !ok {
		if now.Sub(ro.Progress.PhaseStarted) > r.s.ApplyTimeout {
			return r.rollBack(ctx, ro, fmt.Sprintf("%s: agents did not run the config healthily within %s", what, r.s.ApplyTimeout))
		}
		return nil
	}
	if last && len(ro.CriticalBaseline) == 0 {
		ro.State, ro.Reason = Succeeded, fmt.Sprintf("%d agents run the config", len(ids))
		r.log.Info("rollout succeeded", "rollout_id", ro.ID, "agents", len(ids))
		return r.s.Store.Save(ctx, ro)
	}
	ro.Progress.RolloutPausing, ro.Progress.PhaseStarted = true, now
	return r.s.Store.Save(ctx, ro)
}

// rollBack gives every agent of the rollout (not only the failed
// step's) its previous config back, then records it; a crash in between
// repeats the restore, which pushes nothing twice.
func (r *Runner) rollBack(ctx context.Context, ro *Record, reason string) error {
	if err := r.restoreAgents(ctx, ro.Progress.Agents, "rollback of rollout "+ro.ID+": "+reason); err != nil {
		return err
	}
	ro.State, ro.Reason, ro.Progress.Restored = RolledBack, reason, true
	r.log.Warn("rollout rolled back", "rollout_id", ro.ID, "reason", reason, "agents", len(ro.Progress.Agents))
	return r.s.Store.Save(ctx, ro)
}

// restoreAgents sets each agent's previous config (set-to-value).
func (r *Runner) restoreAgents(ctx context.Context, agents []experiment.AgentProgress, reason string) error {
	for _, a := range agents {
		if a.PreviousConfigHash == "" {
			continue
		}
		if err := r.s.Deployer.Set(ctx, a.ID, experiment.DesiredConfig{ConfigHash: a.PreviousConfigHash, Reason: reason}); err != nil {
			return fmt.Errorf("restore %s: %w", a.ID, err)
		}
	}
	return nil
}

// Step moves rollout id at most one step (see step). A
// concurrent write (an abort) wins: the next step starts from it.
func (r *Runner) Step(ctx context.Context, id string) (*Record, error) {
	ro, err := r.s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := r.step(ctx, ro); err != nil && !errors.Is(err, database.ErrConflict) {
		return ro, err
	}
	return ro, nil
}

func sortAgents(agents []experiment.Agent) {
	slices.SortFunc(agents, func(a, b experiment.Agent) int { return strings.Compare(a.ID, b.ID) })
}

func joinCapped(s []string, n int) string {
	if len(s) > n {
		s = append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return strings.Join(s, ", ")
}

func agentIDs(agents []experiment.AgentProgress) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.ID
	}
	return out
}

// Run reconciles every interval until ctx ends.
func (r *Runner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("rollout reconcile failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
