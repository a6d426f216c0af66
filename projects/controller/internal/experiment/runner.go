package experiment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// Agent is one agent as the runner needs it.
type Agent struct {
	ID string
	// ConfigHash is the agent's desired config now (what it returns to).
	ConfigHash string
}

// DesiredConfig is a config an agent must run: Config with ConfigHash, or,
// with Config nil, a config the agent ran before (a rollback by hash).
// PipelineID and PipelineVersion name the stored pipeline version Config
// is, when it is one (a promotion), so the agent's history shows it.
type DesiredConfig struct {
	ConfigHash      string
	Config          []byte
	Reason          string
	PipelineID      string
	PipelineVersion int
}

// Promotion is the winner as a production config, and the stored
// pipeline version it was saved as.
type Promotion struct {
	Config          []byte
	PipelineID      string
	PipelineVersion int
}

// Deployer reaches the fleet (the controller's fleet repo and OpAMP
// server). Set is set-to-value: when the agent's desired config already
// has the hash it records nothing and pushes nothing, so a runner that
// repeats a step after a crash never deploys twice.
type Deployer interface {
	// Select lists team's agents whose labels contain every selector
	// label with the same value.
	Select(ctx context.Context, team string, selector map[string]string) ([]Agent, error)
	// Set makes c the agent's desired config unless it already is.
	Set(ctx context.Context, agentID string, c DesiredConfig) error
	// Running reports whether the agent runs hash and is healthy; a
	// non-nil error from a failed apply (the agent refused the config) is
	// permanent for that hash.
	Running(ctx context.Context, agentID, hash string) (bool, error)
}

// Configs builds the collector configs (the generator service). Both calls
// are idempotent for one experiment: the same record gives the same bytes,
// and PromotionConfig stores the winner as a production pipeline version
// once, however often it is called.
type Configs interface {
	// ExperimentConfig is the fan-out config: baseline and candidates fed
	// by one receiver, each exported as its variant stream.
	ExperimentConfig(ctx context.Context, r *Record) ([]byte, error)
	// PromotionConfig is the winner as a production config, stored as a
	// pipeline version.
	PromotionConfig(ctx context.Context, r *Record, winner string) (Promotion, error)
}

// Analyzer measures the variants (analytics' compare per candidate over
// [from, to], and which agents and streams delivered data).
type Analyzer interface {
	Analyze(ctx context.Context, r *Record, from, to time.Time) (DataFacts, []Figures, error)
}

// Watcher is an Analyzer that must be told, when measurement starts, what
// it will be asked later: analytics records an aggregate's per-window values
// only from the first comparison that names it, so an analysis that asked
// only at the end would find no window. Optional.
type Watcher interface {
	Watch(ctx context.Context, r *Record) error
}

// Publisher announces transitions (PHOENIX_EVENTS, subject
// phoenix.events.experiment.<id>). Delivery is at least once: a crash
// between publishing and marking it published repeats it, so consumers
// deduplicate by experiment id and seq (e.g. a Nats-Msg-Id of id/seq).
type Publisher interface {
	Publish(ctx context.Context, t Transition) error
}

// Clock is the runner's time, a fake in tests.
type Clock interface{ Now() time.Time }

// Settings configure a Runner.
type Settings struct {
	Store     *Store
	Deployer  Deployer
	Configs   Configs
	Analyzer  Analyzer
	Publisher Publisher
	Clock     Clock
	Logger    *slog.Logger
	// ApplyTimeout bounds how long agents may take to run a pushed config
	// healthily (default 2m); beyond it the experiment errors (or the
	// promotion rolls back).
	ApplyTimeout time.Duration
	// Policy is the verdict's data requirement.
	Policy Policy
	// Held, when set, maps the agents other owners (rollouts) may change
	// the config of to the owner's name, leaving out self; experiments
	// neither start nor promote on them.
	Held func(ctx context.Context, self string) (map[string]string, error)
	// crash, in tests, is called at every step boundary; a non-nil error
	// stops the step there as a killed process would.
	crash func(point string) error
}

// Actor is who the runner's transitions name in the log.
const Actor = "controller"

// maxActive bounds the experiments one pass of the scheduler looks at.
const maxActive = 500

// Runner reconciles experiments toward their spec, one step at a time.
// It holds nothing the store does not: a new Runner over the same store
// resumes every experiment where the last one stopped.
type Runner struct {
	s   Settings
	log *slog.Logger
}

// NewRunner returns a runner; every interface in s is required.
func NewRunner(s Settings) (*Runner, error) {
	if s.Store == nil || s.Deployer == nil || s.Configs == nil || s.Analyzer == nil || s.Publisher == nil || s.Clock == nil {
		return nil, errors.New("experiment runner: store, deployer, configs, analyzer, publisher and clock are required")
	}
	if s.ApplyTimeout <= 0 {
		s.ApplyTimeout = 2 * time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	return &Runner{s: s, log: s.Logger.With("component", "experiment-runner")}, nil
}

// errKilled is what a crash hook returns in tests.
var errKilled = errors.New("killed")

func (r *Runner) boundary(point string) error {
	if r.s.crash != nil {
		return r.s.crash(point)
	}
	return nil
}

// Step moves experiment id at most one transition forward, doing the
// idempotent work that transition needs first, and publishes what the
// store logged. It returns the state after the step; an experiment that
// waits (for time, for agents, for an approval) keeps its state.
func (r *Runner) Step(ctx context.Context, id string) (State, error) {
	if err := r.Publish(ctx); err != nil {
		return "", err
	}
	rec, err := r.s.Store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	st, err := r.step(ctx, rec)
	if errors.Is(err, database.ErrConflict) {
		// Someone else (a user's stop, another step) wrote first: the
		// next step starts from what they wrote.
		return rec.State, nil
	}
	if err != nil {
		return rec.State, err
	}
	if err := r.boundary("before_publish"); err != nil {
		return st, err
	}
	return st, r.Publish(ctx)
}

// Reconcile steps every live experiment once (up to maxActive of them),
// logging the ones that fail: one experiment's fault never stalls the
// others. It returns how many it stepped.
func (r *Runner) Reconcile(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for n < maxActive {
		page, err := r.s.Store.List(ctx, nil, true, cursor, min(100, maxActive-n))
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		for _, rec := range page {
			if _, err := r.Step(ctx, rec.ID); err != nil {
				r.log.Warn("experiment step failed", "experiment_id", rec.ID, "state", string(rec.State), "error", err)
			}
			n++
		}
		cursor = page[len(page)-1].ID
	}
	return n, nil
}

// Run reconciles every interval until ctx ends. Everything it knows is in
// the store, so a controller simply runs it again after a restart.
func (r *Runner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("experiment reconcile failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Publish drains the outbox: every logged transition not yet published.
func (r *Runner) Publish(ctx context.Context) error {
	ts, err := r.s.Store.Unpublished(ctx, 100)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := r.s.Publisher.Publish(ctx, t); err != nil {
			return fmt.Errorf("publish %s transition %d: %w", t.ExperimentID, t.Seq, err)
		}
		if err := r.s.Store.MarkPublished(ctx, t.ExperimentID, t.Seq); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) apply(ctx context.Context, rec *Record, ev Event, reason string, mutate func(*Record)) (State, error) {
	next, err := r.s.Store.Apply(ctx, rec.ID, rec.Version, ev, Actor, reason, mutate)
	if err != nil {
		return rec.State, err
	}
	r.log.Info("experiment transition", "experiment_id", rec.ID, "experiment", rec.Name(),
		"from", string(rec.State), "to", string(next.State), "event", string(ev), "reason", reason)
	*rec = *next
	return next.State, nil
}

func (r *Runner) fail(ctx context.Context, rec *Record, reason string) (State, error) {
	return r.apply(ctx, rec, EvError, reason, nil)
}

func (r *Runner) step(ctx context.Context, rec *Record) (State, error) {
	now := r.s.Clock.Now().UTC()
	spec := &rec.Spec.Spec
	switch rec.State {
	case Pending:
		return r.schedule(ctx, rec, now)

	case Deploying:
		if len(rec.Progress.Agents) == 0 {
			// Nothing to deploy: the config (and the generator) is not
			// needed to reach the inconclusive verdict.
			return r.apply(ctx, rec, EvDeployed, "no agent to deploy to",
				func(x *Record) { x.Progress.PhaseStarted = now })
		}
		cfg, err := r.s.Configs.ExperimentConfig(ctx, rec)
		if err != nil {
			return r.permanent(ctx, rec, "build the experiment config", err)
		}
		hash := fleet.Hash(cfg)
		for _, a := range rec.Progress.Agents {
			if err := r.s.Deployer.Set(ctx, a.ID, DesiredConfig{ConfigHash: hash, Config: cfg,
				Reason: "experiment " + rec.Name() + " (" + rec.ID + ")"}); err != nil {
				return rec.State, fmt.Errorf("deploy experiment %s to %s: %w", rec.ID, a.ID, err)
			}
			if err := r.boundary("after_deploy"); err != nil {
				return rec.State, err
			}
		}
		ready, err := r.allRunning(ctx, rec.Progress.agentIDs(), hash)
		if err != nil {
			return r.restoreAndFail(ctx, rec, "an agent refused the experiment config: "+err.Error())
		}
		if !ready {
			if now.Sub(rec.Progress.PhaseStarted) > r.s.ApplyTimeout {
				return r.restoreAndFail(ctx, rec, fmt.Sprintf("agents did not run the experiment config healthily within %s", r.s.ApplyTimeout))
			}
			return rec.State, nil
		}
		return r.apply(ctx, rec, EvDeployed, fmt.Sprintf("%d agents run the experiment config", len(rec.Progress.Agents)),
			func(x *Record) { x.Progress.PhaseStarted = now })

	case Warming:
		// Without agents there is nothing to wait for: the verdict is
		// inconclusive, and a CI job should learn it at once.
		if len(rec.Progress.Agents) > 0 && now.Sub(rec.Progress.PhaseStarted) < spec.Warmup.Std() {
			return rec.State, nil
		}
		if w, ok := r.s.Analyzer.(Watcher); ok && len(rec.Progress.Agents) > 0 {
			// Not fatal: an aggregate that was never watched is reported
			// as not measured, and the verdict says so.
			if err := w.Watch(ctx, rec); err != nil {
				r.log.Warn("experiment watch failed", "experiment_id", rec.ID, "error", err)
			}
		}
		return r.apply(ctx, rec, EvWarmedUp, "warm-up over", func(x *Record) {
			x.Progress.PhaseStarted, x.Progress.WindowFrom = now, now
		})

	case Running:
		if len(rec.Progress.Agents) > 0 && now.Sub(rec.Progress.PhaseStarted) < spec.Duration.Std() {
			return rec.State, nil
		}
		// The data is in; the agents go back to what they ran before
		// the analysis, so a slow analysis holds no agent.
		if err := r.restore(ctx, rec); err != nil {
			return rec.State, err
		}
		return r.apply(ctx, rec, EvElapsed, "duration over; agents restored", func(x *Record) {
			x.Progress.WindowTo, x.Progress.Restored = now, true
		})

	case Analyzing:
		var (
			facts DataFacts
			figs  []Figures
		)
		if len(rec.Progress.Agents) > 0 { // without agents there is nothing to measure
			var err error
			facts, figs, err = r.s.Analyzer.Analyze(ctx, rec, rec.Progress.WindowFrom, rec.Progress.WindowTo)
			if err != nil {
				return rec.State, fmt.Errorf("analyze experiment %s: %w", rec.ID, err)
			}
		}
		facts.Agents = len(rec.Progress.Agents) // the runner knows where it ran
		res := Decide(rec.Name(), spec.Criteria, facts, figs, r.s.Policy)
		res.From, res.To = rec.Progress.WindowFrom, rec.Progress.WindowTo
		ev := map[Outcome]Event{OutcomeSucceeded: EvPass, OutcomeFailed: EvFail, OutcomeInconclusive: EvNoData}[res.Outcome]
		return r.apply(ctx, rec, ev, strings.Join(res.Reasons, "; "), func(x *Record) { x.Results = &res })

	case Succeeded:
		if spec.OnSuccess != OnSuccessPromote {
			return rec.State, nil // waits for an approval (EvPromote from a user)
		}
		return r.apply(ctx, rec, EvPromote, "on_success: promote; winner "+rec.Results.Winner, func(x *Record) {
			x.Progress.PhaseStarted, x.Progress.RolloutStep, x.Progress.RolloutPausing = now, 0, false
		})

	case Promoting:
		return r.promote(ctx, rec, now)

	case Cancelled, Errored, RolledBack:
		// Final, but the agents may still run the experiment's config: a
		// user's stop writes the state, the runner gives the agents back.
		if rec.Progress.Restored || len(rec.Progress.Agents) == 0 {
			return rec.State, nil
		}
		if err := r.restore(ctx, rec); err != nil {
			return rec.State, err
		}
		rec.Progress.Restored = true
		if err := r.s.Store.Save(ctx, rec); err != nil {
			return rec.State, err
		}
		r.log.Info("experiment agents restored", "experiment_id", rec.ID, "state", string(rec.State), "agents", len(rec.Progress.Agents))
		return rec.State, nil
	}
	return rec.State, nil // draft waits for start; the other final states have nothing left to do
}

// schedule selects the agents and starts deploying, unless another live
// experiment holds one of them: at most one experiment per agent.
func (r *Runner) schedule(ctx context.Context, rec *Record, now time.Time) (State, error) {
	agents, err := r.s.Deployer.Select(ctx, rec.Team, rec.Spec.Spec.Target.Selector)
	if err != nil {
		return rec.State, fmt.Errorf("select agents of %s: %w", rec.ID, err)
	}
	slices.SortFunc(agents, func(a, b Agent) int { return strings.Compare(a.ID, b.ID) })
	held, err := r.heldAgents(ctx, rec.ID)
	if err != nil {
		return rec.State, err
	}
	var busy []string
	for _, a := range agents {
		if owner, ok := held[a.ID]; ok {
			busy = append(busy, a.ID+" ("+owner+")")
		}
	}
	if len(busy) > 0 {
		note := "waiting for agents held by another experiment or rollout: " + strings.Join(capList(busy, 5), ", ")
		if rec.Progress.Note != note {
			rec.Progress.Note = note
			if err := r.s.Store.Save(ctx, rec); err != nil {
				return rec.State, err
			}
		}
		return rec.State, nil
	}
	reason := fmt.Sprintf("%d agents match the selector", len(agents))
	if len(agents) == 0 {
		reason = "no agent matches the selector: nothing to deploy, the analysis will be inconclusive"
	}
	return r.apply(ctx, rec, EvDeploy, reason, func(x *Record) {
		x.Progress.Agents = x.Progress.Agents[:0]
		for _, a := range agents {
			x.Progress.Agents = append(x.Progress.Agents, AgentProgress{ID: a.ID, PreviousConfigHash: a.ConfigHash})
		}
		x.Progress.PhaseStarted, x.Progress.Note = now, ""
	})
}

// HeldAgents maps each agent a live experiment or another owner (other
// than self) may change the config of to its owner ("experiment <name>",
// "rollout <id>"): a rollout must not start on them either.
func (r *Runner) HeldAgents(ctx context.Context, self string) (map[string]string, error) {
	return r.heldAgents(ctx, self)
}

func (r *Runner) heldAgents(ctx context.Context, self string) (map[string]string, error) {
	live, err := r.s.Store.List(ctx, nil, true, "", maxActive)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	for _, o := range live {
		if o.ID == self || !o.HoldsAgents() {
			continue
		}
		for _, a := range o.Progress.Agents {
			held[a.ID] = "experiment " + o.Name()
		}
	}
	if r.s.Held != nil {
		others, err := r.s.Held(ctx, self)
		if err != nil {
			return nil, fmt.Errorf("agents held by rollouts: %w", err)
		}
		for id, owner := range others {
			held[id] = owner
		}
	}
	return held, nil
}

// promote rolls the winner out: every agent at once, or staged: each step
// a larger share of the agents (sorted by id), checked healthy, then a
// pause. Any agent that does not run the winner healthily in time rolls
// the whole promotion back.
func (r *Runner) promote(ctx context.Context, rec *Record, now time.Time) (State, error) {
	spec := &rec.Spec.Spec
	if rec.Results == nil || rec.Results.Winner == "" {
		return r.fail(ctx, rec, "promoting without a winner")
	}
	prom, err := r.s.Configs.PromotionConfig(ctx, rec, rec.Results.Winner)
	if err != nil {
		return r.permanent(ctx, rec, "build the promotion config", err)
	}
	cfg := prom.Config
	hash := fleet.Hash(cfg)
	steps := []int{100}
	if spec.Rollout.Strategy == RolloutStaged {
		steps = spec.Rollout.Steps
	}
	step := min(rec.Progress.RolloutStep, len(steps)-1)
	ids := rec.Progress.agentIDs()
	n := (len(ids)*steps[step] + 99) / 100 // ceil: 10% of 3 agents is 1
	if rec.Progress.RolloutPausing {
		if now.Sub(rec.Progress.PhaseStarted) < spec.Rollout.Pause.Std() {
			return rec.State, nil
		}
		// The pause is over: the step's agents must still be healthy.
		ok, err := r.allRunning(ctx, ids[:n], hash)
		if err != nil || !ok {
			return r.rollback(ctx, rec, fmt.Sprintf("step %d (%d%%): an agent became unhealthy during the pause", step+1, steps[step]))
		}
		rec.Progress.RolloutPausing = false
		rec.Progress.RolloutStep++
		rec.Progress.PhaseStarted = now
		return rec.State, r.s.Store.Save(ctx, rec)
	}
	held, err := r.heldAgents(ctx, rec.ID)
	if err != nil {
		return rec.State, err
	}
	var busy []string
	for _, id := range ids[:n] {
		if owner, ok := held[id]; ok {
			busy = append(busy, id+" ("+owner+")")
		}
	}
	if len(busy) > 0 {
		// Another experiment started on these agents after this one
		// ended; its restore would overwrite the promotion.
		note := "promotion waits for agents held by another experiment or rollout: " + strings.Join(capList(busy, 5), ", ")
		if rec.Progress.Note != note {
			rec.Progress.Note = note
			return rec.State, r.s.Store.Save(ctx, rec)
		}
		return rec.State, nil
	}
	for _, id := range ids[:n] {
		if err := r.s.Deployer.Set(ctx, id, DesiredConfig{ConfigHash: hash, Config: cfg,
			PipelineID: prom.PipelineID, PipelineVersion: prom.PipelineVersion,
			Reason: "promotion of " + rec.Results.Winner + " from experiment " + rec.Name()}); err != nil {
			return rec.State, fmt.Errorf("promote %s to %s: %w", rec.ID, id, err)
		}
		if err := r.boundary("after_promote_deploy"); err != nil {
			return rec.State, err
		}
	}
	ok, err := r.allRunning(ctx, ids[:n], hash)
	if err != nil {
		return r.rollback(ctx, rec, fmt.Sprintf("step %d (%d%%): %v", step+1, steps[step], err))
	}
	if !ok {
		if now.Sub(rec.Progress.PhaseStarted) > r.s.ApplyTimeout {
			return r.rollback(ctx, rec, fmt.Sprintf("step %d (%d%%): agents did not run the winner healthily within %s", step+1, steps[step], r.s.ApplyTimeout))
		}
		return rec.State, nil
	}
	if step == len(steps)-1 {
		return r.apply(ctx, rec, EvPromoted, fmt.Sprintf("%s runs on %d agents", rec.Results.Winner, len(ids)), nil)
	}
	rec.Progress.RolloutPausing = true
	rec.Progress.PhaseStarted = now
	return rec.State, r.s.Store.Save(ctx, rec)
}

// rollback restores every agent of a failed promotion and records it.
func (r *Runner) rollback(ctx context.Context, rec *Record, reason string) (State, error) {
	if err := r.restore(ctx, rec); err != nil {
		return rec.State, err
	}
	return r.apply(ctx, rec, EvRollback, reason, func(x *Record) { x.Progress.Restored = true })
}

func (r *Runner) restoreAndFail(ctx context.Context, rec *Record, reason string) (State, error) {
	if err := r.restore(ctx, rec); err != nil {
		return rec.State, err
	}
	return r.apply(ctx, rec, EvError, reason, func(x *Record) { x.Progress.Restored = true })
}

// permanent turns a refusal (a 4xx problem: the spec cannot be built) into
// errored, and leaves anything else to be retried.
func (r *Runner) permanent(ctx context.Context, rec *Record, what string, err error) (State, error) {
	var p *problem.Error
	if errors.As(err, &p) && p.Status >= http.StatusBadRequest && p.Status < http.StatusInternalServerError {
		return r.restoreAndFail(ctx, rec, what+": "+p.Error())
	}
	return rec.State, fmt.Errorf("%s for %s: %w", what, rec.ID, err)
}

// restore gives every selected agent back the config it ran before
// (set-to-value: a repeat pushes nothing).
func (r *Runner) restore(ctx context.Context, rec *Record) error {
	for _, a := range rec.Progress.Agents {
		if a.PreviousConfigHash == "" {
			continue // it ran nothing Phoenix knows before; nothing to return to
		}
		if err := r.s.Deployer.Set(ctx, a.ID, DesiredConfig{ConfigHash: a.PreviousConfigHash,
			Reason: "end of experiment " + rec.Name() + ": previous config"}); err != nil {
			return fmt.Errorf("restore %s after experiment %s: %w", a.ID, rec.ID, err)
		}
		if err := r.boundary("after_restore"); err != nil {
			return err
		}
	}
	return nil
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
