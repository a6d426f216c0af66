package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// Pusher sends a recorded deployment to a connected agent
// (opampserver.Server implements it).
type Pusher interface {
	Deploy(ctx context.Context, d *fleet.Deployment) (delivered bool, err error)
}

// Bounds on what one call reads, so a huge fleet or history cannot make a
// step unbounded.
const (
	maxSelected    = 10000 // agents one experiment may select
	maxHistoryScan = 1000  // deployments searched for a rollback by hash
	pageSize       = 200
)

// Deployer is experiment.Deployer over the fleet store and the OpAMP
// server: every config change is a recorded deployment, so the agent's
// history shows the experiment and its end.
type Deployer struct {
	Repo   *fleet.Repo
	Pusher Pusher
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
}

var _ experiment.Deployer = (*Deployer)(nil)

func (d *Deployer) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Select lists team's agents whose labels contain the selector. An agent's
// ConfigHash is its desired deployment's (what it returns to), or "" when
// nothing was ever pushed to it.
func (d *Deployer) Select(ctx context.Context, team string, selector map[string]string) ([]experiment.Agent, error) {
	var out []experiment.Agent
	cursor := ""
	for {
		page, err := d.Repo.ListAgents(ctx, []string{team}, cursor, pageSize)
		if err != nil {
			return nil, fmt.Errorf("select agents: %w", err)
		}
		for _, a := range page {
			if !matches(a.Labels, selector) {
				continue
			}
			if len(out) >= maxSelected {
				return nil, fmt.Errorf("select agents: more than %d agents match; narrow the selector", maxSelected)
			}
			hash := ""
			des, err := d.Repo.Desired(ctx, a.ID)
			if err != nil {
				return nil, err
			}
			if des != nil {
				hash = des.ConfigHash
			}
			out = append(out, experiment.Agent{ID: a.ID, ConfigHash: hash})
		}
		if len(page) < pageSize {
			return out, nil
		}
		cursor = page[len(page)-1].ID
	}
}

// matches: every selector label is present with the same value.
func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Set records a deployment of c and pushes it, unless the agent's desired
// config already has c's hash. With c.Config nil it pushes again the
// newest deployment of the agent with that hash (a rollback).
func (d *Deployer) Set(ctx context.Context, agentID string, c experiment.DesiredConfig) error {
	if c.Config != nil {
		if got := fleet.Hash(c.Config); got != c.ConfigHash {
			return fmt.Errorf("deploy to %s: config hash %s does not match its bytes (%s)", agentID, c.ConfigHash, got)
		}
	}
	des, err := d.Repo.Desired(ctx, agentID)
	if err != nil {
		return err
	}
	if des != nil && des.ConfigHash == c.ConfigHash {
		return nil // set-to-value: already the desired config
	}
	now := d.now()
	dep := &fleet.Deployment{
		ID: fleet.NewDeploymentID(now), AgentID: agentID, CreatedBy: Actor, Reason: c.Reason,
		CreatedAt: now, UpdatedAt: now, Status: fleet.StatusPending, ConfigHash: c.ConfigHash,
	}
	switch {
	case c.Config != nil && c.PipelineID != "":
		dep.Kind, dep.Config = fleet.KindPipeline, string(c.Config)
		dep.PipelineID, dep.PipelineVersion = c.PipelineID, c.PipelineVersion
	case c.Config != nil:
		dep.Kind, dep.Config = fleet.KindRaw, string(c.Config)
	default:
		prev, err := d.byHash(ctx, agentID, c.ConfigHash)
		if err != nil {
			return err
		}
		dep.Kind, dep.Config, dep.RollbackOf = fleet.KindRollback, prev.Config, prev.ID
		dep.PipelineID, dep.PipelineVersion = prev.PipelineID, prev.PipelineVersion
	}
	if err := d.Repo.CreateDeployment(ctx, dep); err != nil {
		return fmt.Errorf("record deployment to %s: %w", agentID, err)
	}
	if _, err := d.Pusher.Deploy(ctx, dep); err != nil {
		// Recorded as desired: the agent gets it on its next message.
		d.logger().Warn("deployment recorded but not sent", "deployment_id", dep.ID, "agent_id", agentID, "error", err)
	}
	return nil
}

// ConfigByHash returns the newest config the agent was given with hash
// (Configs.Previous).
func (d *Deployer) ConfigByHash(ctx context.Context, agentID, hash string) ([]byte, error) {
	dep, err := d.byHash(ctx, agentID, hash)
	if err != nil {
		return nil, err
	}
	return []byte(dep.Config), nil
}

// byHash finds the newest deployment of the agent with hash.
func (d *Deployer) byHash(ctx context.Context, agentID, hash string) (*fleet.Deployment, error) {
	cursor := ""
	for seen := 0; seen < maxHistoryScan; {
		page, err := d.Repo.History(ctx, agentID, cursor, pageSize)
		if err != nil {
			return nil, err
		}
		for _, p := range page {
			if p.ConfigHash == hash {
				return p, nil
			}
		}
		seen += len(page)
		if len(page) < pageSize {
			break
		}
		cursor = page[len(page)-1].ID
	}
	return nil, fmt.Errorf("restore agent %s: no deployment with config hash %s in its last %d deployments", agentID, hash, maxHistoryScan)
}

// ErrConfigFailed wraps an agent's refusal of a config.
var ErrConfigFailed = errors.New("agent failed the config")

// Running reports whether the agent is connected, runs hash and is
// healthy; an agent that failed to apply hash is an error.
func (d *Deployer) Running(ctx context.Context, agentID, hash string) (bool, error) {
	a, err := d.Repo.GetAgent(ctx, agentID)
	if err != nil {
		return false, err
	}
	if a.RemoteConfigHash == hash && a.RemoteConfigStatus == fleet.StatusFailed {
		return false, fmt.Errorf("%w %s: %s", ErrConfigFailed, short(hash), a.RemoteConfigError)
	}
	return a.Connected && a.EffectiveConfigHash == hash && a.Healthy != nil && *a.Healthy, nil
}

func (d *Deployer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
