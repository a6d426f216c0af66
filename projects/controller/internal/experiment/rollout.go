package experiment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// RolloutState is where a rollout is.
type RolloutState string

// Rollout states. Rolling is the only one the runner advances; the others
// are final (aborted and rolled_back once the agents are restored).
const (
	RolloutRolling    RolloutState = "rolling"
	RolloutSucceeded  RolloutState = "succeeded"
	RolloutRolledBack RolloutState = "rolled_back" // a step failed: every agent got its previous config back
	RolloutAborted    RolloutState = "aborted"     // stopped by a user: every agent gets its previous config back
)

// RolloutRecord is one rollout: a config (a stored pipeline version) for
// every agent of a team matching Selector, pushed as Plan says.
type RolloutRecord struct {
	ID              string            `json:"id"`
	Team            string            `json:"team"`
	Selector        map[string]string `json:"selector"`
	PipelineID      string            `json:"pipeline_id,omitempty"`
	PipelineVersion int               `json:"pipeline_version,omitempty"`
	Config          string            `json:"config"`
	ConfigHash      string            `json:"config_hash"`
	Plan            Rollout           `json:"plan"`
	State           RolloutState      `json:"state"`
	// Reason says why the rollout is in its state (the failed step).
	Reason    string    `json:"reason,omitempty"`
	Version   int64     `json:"version"`
	Progress  Progress  `json:"progress"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Selected is set once the agents are chosen (an empty selection is
	// a selection too).
	Selected bool `json:"selected,omitempty"`
}

// HoldsAgents reports whether the rollout may change its agents' configs
// still, so no experiment may start on them.
func (r *RolloutRecord) HoldsAgents() bool {
	return r.State == RolloutRolling || r.State != RolloutSucceeded && !r.Progress.Restored && len(r.Progress.Agents) > 0
}

// CheckPlan reports what is wrong with a rollout plan (defaulting an empty
// strategy to all).
func CheckPlan(p *Rollout) []problem.FieldError {
	if p.Strategy == "" {
		p.Strategy = RolloutAll
	}
	return p.check()
}

// CreateRollout stores a new rolling rollout with version 1.
func (s *Store) CreateRollout(ctx context.Context, r *RolloutRecord, actor string) error {
	if r.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.ID = "ro-" + hex.EncodeToString(b[:])
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	r.State, r.Version, r.CreatedBy, r.CreatedAt, r.UpdatedAt = RolloutRolling, 1, actor, now, now
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode rollout: %w", err)
	}
	_, err = s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO rollouts
		(id, team, state, active, version, doc, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Team, string(r.State), rolloutActive(r), r.Version, string(doc), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("insert rollout: %w", err)
	}
	return nil
}

// GetRollout returns one rollout, or a 404 wrapping database.ErrNotFound.
func (s *Store) GetRollout(ctx context.Context, id string) (*RolloutRecord, error) {
	var doc string
	err := s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT doc FROM rollouts WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFound("rollout %s not found", id).Wrap(database.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get rollout %s: %w", id, err)
	}
	var r RolloutRecord
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("decode rollout %s: %w", id, err)
	}
	return &r, nil
}

// LiveRollouts lists up to limit rollouts the runner still has work on,
// by id after cursor.
func (s *Store) LiveRollouts(ctx context.Context, cursor string, limit int) ([]*RolloutRecord, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT doc FROM rollouts WHERE active = 1 AND id > ? ORDER BY id LIMIT ?`), cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []*RolloutRecord
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		var r RolloutRecord
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			return nil, fmt.Errorf("decode rollout: %w", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// SaveRollout writes r if r.Version is still the stored one, and bumps it.
func (s *Store) SaveRollout(ctx context.Context, r *RolloutRecord) error {
	next := *r
	next.Version = r.Version + 1
	next.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	doc, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("encode rollout: %w", err)
	}
	err = database.ExpectOne(s.db.DB.ExecContext(ctx, s.db.Rebind(`UPDATE rollouts SET state = ?, active = ?, version = ?, doc = ?,
		updated_at_ms = ? WHERE id = ? AND version = ?`),
		string(next.State), rolloutActive(&next), next.Version, string(doc), ms(next.UpdatedAt), r.ID, r.Version))
	if errors.Is(err, database.ErrConflict) {
		return problem.Conflict("rollout %s changed since version %d; read it again", r.ID, r.Version).Wrap(database.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update rollout %s: %w", r.ID, err)
	}
	*r = next
	return nil
}

// AbortRollout stops a rolling rollout (read at version); the runner then
// gives every agent its previous config back.
func (s *Store) AbortRollout(ctx context.Context, id string, version int64, reason string) (*RolloutRecord, error) {
	r, err := s.GetRollout(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Version != version {
		return nil, problem.Conflict("rollout %s changed since version %d; read it again", id, version).Wrap(database.ErrConflict)
	}
	if r.State != RolloutRolling {
		return nil, problem.Conflict("rollout %s is %s: only a rolling rollout can be aborted", id, r.State)
	}
	r.State, r.Reason = RolloutAborted, reason
	return r, s.SaveRollout(ctx, r)
}

func rolloutActive(r *RolloutRecord) int {
	if r.HoldsAgents() {
		return 1
	}
	return 0
}

// stepRollout moves a rollout at most one step: select its agents, push
// the config to the current step's share of them, check they run it
// healthily, pause, and go on; a step that fails gives every agent of the
// rollout its previous config back (rolled_back).
func (r *Runner) stepRollout(ctx context.Context, ro *RolloutRecord) error {
	now := r.s.Clock.Now().UTC()
	if ro.State != RolloutRolling {
		if !ro.HoldsAgents() {
			return nil
		}
		if err := r.restoreAgents(ctx, ro.Progress.Agents, "end of rollout "+ro.ID+": previous config"); err != nil {
			return err
		}
		ro.Progress.Restored = true
		return r.s.Store.SaveRollout(ctx, ro)
	}
	if !ro.Selected {
		agents, err := r.s.Deployer.Select(ctx, ro.Team, ro.Selector)
		if err != nil {
			return fmt.Errorf("select agents of rollout %s: %w", ro.ID, err)
		}
		held, err := r.heldAgents(ctx, ro.ID)
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
			return r.s.Store.SaveRollout(ctx, ro)
		}
		sortAgents(agents)
		ro.Selected, ro.Progress.Note, ro.Progress.PhaseStarted = true, "", now
		for _, a := range agents {
			ro.Progress.Agents = append(ro.Progress.Agents, AgentProgress{ID: a.ID, PreviousConfigHash: a.ConfigHash})
		}
		if len(agents) == 0 {
			ro.State, ro.Reason = RolloutSucceeded, "no agent matches the selector"
		}
		return r.s.Store.SaveRollout(ctx, ro)
	}
	steps := []int{100}
	if ro.Plan.Strategy == RolloutStaged {
		steps = ro.Plan.Steps
	}
	step := min(ro.Progress.RolloutStep, len(steps)-1)
	ids := ro.Progress.agentIDs()
	n := (len(ids)*steps[step] + 99) / 100
	what := fmt.Sprintf("step %d (%d%%)", step+1, steps[step])
	if ro.Progress.RolloutPausing {
		if now.Sub(ro.Progress.PhaseStarted) < ro.Plan.Pause.Std() {
			return nil
		}
		ok, err := r.allRunning(ctx, ids[:n], ro.ConfigHash)
		if err != nil || !ok {
			return r.rollBackRollout(ctx, ro, what+": an agent became unhealthy during the pause")
		}
		ro.Progress.RolloutPausing, ro.Progress.PhaseStarted = false, now
		ro.Progress.RolloutStep++
		return r.s.Store.SaveRollout(ctx, ro)
	}
	for _, id := range ids[:n] {
		if err := r.s.Deployer.Set(ctx, id, DesiredConfig{ConfigHash: ro.ConfigHash, Config: []byte(ro.Config),
			PipelineID: ro.PipelineID, PipelineVersion: ro.PipelineVersion, Reason: "rollout " + ro.ID + " " + what}); err != nil {
			return fmt.Errorf("rollout %s to %s: %w", ro.ID, id, err)
		}
	}
	ok, err := r.allRunning(ctx, ids[:n], ro.ConfigHash)
	if err != nil {
		return r.rollBackRollout(ctx, ro, what+": "+err.Error())
	}
	if !ok {
		if now.Sub(ro.Progress.PhaseStarted) > r.s.ApplyTimeout {
			return r.rollBackRollout(ctx, ro, fmt.Sprintf("%s: agents did not run the config healthily within %s", what, r.s.ApplyTimeout))
		}
		return nil
	}
	if step == len(steps)-1 {
		ro.State, ro.Reason = RolloutSucceeded, fmt.Sprintf("%d agents run the config", len(ids))
		r.log.Info("rollout succeeded", "rollout_id", ro.ID, "agents", len(ids))
		return r.s.Store.SaveRollout(ctx, ro)
	}
	ro.Progress.RolloutPausing, ro.Progress.PhaseStarted = true, now
	return r.s.Store.SaveRollout(ctx, ro)
}

// rollBackRollout gives every agent of the rollout (not only the failed
// step's) its previous config back, then records it; a crash in between
// repeats the restore, which pushes nothing twice.
func (r *Runner) rollBackRollout(ctx context.Context, ro *RolloutRecord, reason string) error {
	if err := r.restoreAgents(ctx, ro.Progress.Agents, "rollback of rollout "+ro.ID+": "+reason); err != nil {
		return err
	}
	ro.State, ro.Reason, ro.Progress.Restored = RolloutRolledBack, reason, true
	r.log.Warn("rollout rolled back", "rollout_id", ro.ID, "reason", reason, "agents", len(ro.Progress.Agents))
	return r.s.Store.SaveRollout(ctx, ro)
}

// restoreAgents sets each agent's previous config (set-to-value).
func (r *Runner) restoreAgents(ctx context.Context, agents []AgentProgress, reason string) error {
	for _, a := range agents {
		if a.PreviousConfigHash == "" {
			continue
		}
		if err := r.s.Deployer.Set(ctx, a.ID, DesiredConfig{ConfigHash: a.PreviousConfigHash, Reason: reason}); err != nil {
			return fmt.Errorf("restore %s: %w", a.ID, err)
		}
	}
	return nil
}

// StepRollout moves rollout id at most one step (see stepRollout). A
// concurrent write (an abort) wins: the next step starts from it.
func (r *Runner) StepRollout(ctx context.Context, id string) (*RolloutRecord, error) {
	ro, err := r.s.Store.GetRollout(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := r.stepRollout(ctx, ro); err != nil && !errors.Is(err, database.ErrConflict) {
		return ro, err
	}
	return ro, nil
}

func sortAgents(agents []Agent) {
	slices.SortFunc(agents, func(a, b Agent) int { return strings.Compare(a.ID, b.ID) })
}

func joinCapped(s []string, n int) string { return strings.Join(capList(s, n), ", ") }
