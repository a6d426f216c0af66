// Package fleet keeps the agents the control plane knows and the deployments
// pushed to them, in the store (SQLite or PostgreSQL). The OpAMP server
// writes what agents report; the API reads it and records deployments.
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultTeam owns agents enrolled without a team.
const DefaultTeam = "default"

// Remote config statuses, as OpAMP reports them (lower case), plus pending
// for a deployment the agent has not acknowledged yet.
const (
	StatusPending  = "pending"
	StatusApplying = "applying"
	StatusApplied  = "applied"
	StatusFailed   = "failed"
)

// Deployment kinds.
const (
	KindPipeline = "pipeline" // a stored pipeline version from the generator
	KindRaw      = "raw"      // a raw config pushed by an admin
	KindRollback = "rollback" // an earlier deployment's config pushed again
)

// Agent and Deployment are what crosses the wire (pkg/apiv1); the fleet
// stores and serves them as they are.
type (
	Agent      = apiv1.Agent
	Deployment = apiv1.Deployment
)

// Hash is the config hash used everywhere: hex SHA-256 of the YAML bytes.
func Hash(config []byte) string {
	sum := sha256.Sum256(config)
	return hex.EncodeToString(sum[:])
}

// NewDeploymentID returns an id that sorts by creation time: 16 hex digits
// of Unix nanoseconds (strictly increasing within this process, so history
// order is push order even on a coarse clock), then 8 random hex digits.
func NewDeploymentID(now time.Time) string {
	idMu.Lock()
	n := now.UnixNano()
	if n <= lastIDNanos {
		n = lastIDNanos + 1
	}
	lastIDNanos = n
	idMu.Unlock()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("dep-%016x%s", n, hex.EncodeToString(r[:]))
}

var (
	idMu        sync.Mutex
	lastIDNanos int64
)

// Repo reads and writes the fleet tables.
type Repo struct {
	store *database.Store
}

// NewRepo returns a repository over store.
func NewRepo(store *database.Store) *Repo { return &Repo{store: store} }

// Migrations are the fleet tables (portable SQL), for the service registry.
func Migrations() fs.FS { return migrations }

// Migrate creates or upgrades the fleet tables (the runner does it before
// the controller starts; tests of this package call it themselves).
func (r *Repo) Migrate(ctx context.Context) error {
	if _, err := r.store.Migrate(ctx, "controller", migrations); err != nil {
		return fmt.Errorf("fleet migrations: %w", err)
	}
	return nil
}

const agentColumns = `id, team, hostname, agent_version, labels, connected, first_seen_ms, last_seen_ms,
	health_reported, healthy, health_status, last_error, effective_config, effective_config_hash,
	remote_config_status, remote_config_hash, remote_config_error, deployment_id, pipeline_id, pipeline_version`

// SaveAgent inserts or updates what an agent reports; first_seen keeps its
// first value, and the desired deployment (set only by CreateDeployment) is
// never overwritten by a report.
func (r *Repo) SaveAgent(ctx context.Context, a *Agent) error {
	labels, err := json.Marshal(a.Labels)
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	if a.Labels == nil {
		labels = []byte("{}")
	}
	reported, healthy := 0, 0
	if a.Healthy != nil {
		reported = 1
		if *a.Healthy {
			healthy = 1
		}
	}
	q := `INSERT INTO fleet_agents (` + agentColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET team = excluded.team, hostname = excluded.hostname,
		agent_version = excluded.agent_version, labels = excluded.labels, connected = excluded.connected,
		last_seen_ms = excluded.last_seen_ms, health_reported = excluded.health_reported,
		healthy = excluded.healthy, health_status = excluded.health_status, last_error = excluded.last_error,
		effective_config = excluded.effective_config, effective_config_hash = excluded.effective_config_hash,
		remote_config_status = excluded.remote_config_status, remote_config_hash = excluded.remote_config_hash,
		remote_config_error = excluded.remote_config_error`
	_, err = r.store.DB.ExecContext(ctx, r.store.Rebind(q),
		a.ID, a.Team, a.Hostname, a.AgentVersion, string(labels), boolInt(a.Connected),
		ms(a.FirstSeen), ms(a.LastSeen), reported, healthy, a.HealthStatus, a.LastError,
		a.EffectiveConfig, a.EffectiveConfigHash, a.RemoteConfigStatus, a.RemoteConfigHash,
		a.RemoteConfigError, a.DeploymentID, a.PipelineID, a.PipelineVersion)
	if err != nil {
		return fmt.Errorf("save agent %s: %w", a.ID, err)
	}
	return nil
}

// Touch records a heartbeat: connected and last seen, nothing else.
func (r *Repo) Touch(ctx context.Context, id string, lastSeen time.Time) error {
	err := database.ExpectOne(r.store.DB.ExecContext(ctx, r.store.Rebind(
		`UPDATE fleet_agents SET connected = 1, last_seen_ms = ? WHERE id = ?`), ms(lastSeen), id))
	if errors.Is(err, database.ErrConflict) {
		return fmt.Errorf("agent %s: %w", id, database.ErrNotFound)
	}
	return err
}

// Desired returns the agent's desired deployment (its latest push), or nil
// when nothing was pushed to it.
func (r *Repo) Desired(ctx context.Context, agentID string) (*Deployment, error) {
	cols := prefixed(deploymentColumns, "d.")
	row := r.store.DB.QueryRowContext(ctx, r.store.Rebind(`SELECT `+cols+` FROM fleet_agents a
		JOIN fleet_deployments d ON d.id = a.deployment_id WHERE a.id = ?`), agentID)
	d, err := scanDeployment(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("desired deployment of %s: %w", agentID, err)
	}
	return d, nil
}

// GetAgent returns one agent or database.ErrNotFound.
func (r *Repo) GetAgent(ctx context.Context, id string) (*Agent, error) {
	row := r.store.DB.QueryRowContext(ctx, r.store.Rebind(`SELECT `+agentColumns+` FROM fleet_agents WHERE id = ?`), id)
	a, err := scanAgent(row)
	if err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, database.NotFound(err))
	}
	return a, nil
}

// ListAgents returns up to limit agents with ids after cursor, ordered by id.
// teams restricts the answer to those teams; nil means every team.
func (r *Repo) ListAgents(ctx context.Context, teams []string, cursor string, limit int) ([]*Agent, error) {
	q := `SELECT ` + agentColumns + ` FROM fleet_agents WHERE id > ?`
	args := []any{cursor}
	if teams != nil {
		if len(teams) == 0 {
			return nil, nil
		}
		q += ` AND team IN (?` + strings.Repeat(", ?", len(teams)-1) + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := r.store.DB.QueryContext(ctx, r.store.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	var out []*Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		a.EffectiveConfig = "" // lists stay small; GET /agents/{id} carries the config
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// DisconnectAll marks every agent disconnected: a controller that starts
// holds no connections, whatever the store says about the last process.
func (r *Repo) DisconnectAll(ctx context.Context) error {
	if _, err := r.store.DB.ExecContext(ctx, `UPDATE fleet_agents SET connected = 0 WHERE connected <> 0`); err != nil {
		return fmt.Errorf("mark agents disconnected: %w", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanAgent(s scanner) (*Agent, error) {
	var (
		a                           Agent
		labels                      string
		connected, reported, health int
		first, last                 int64
	)
	err := s.Scan(&a.ID, &a.Team, &a.Hostname, &a.AgentVersion, &labels, &connected, &first, &last,
		&reported, &health, &a.HealthStatus, &a.LastError, &a.EffectiveConfig, &a.EffectiveConfigHash,
		&a.RemoteConfigStatus, &a.RemoteConfigHash, &a.RemoteConfigError, &a.DeploymentID, &a.PipelineID,
		&a.PipelineVersion)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("decode labels of agent %s: %w", a.ID, err)
	}
	a.Connected = connected != 0
	a.FirstSeen, a.LastSeen = fromMS(first), fromMS(last)
	if reported != 0 {
		h := health != 0
		a.Healthy = &h
	} else {
		a.HealthyUnknown = "the agent has not reported health yet"
	}
	return &a, nil
}

const deploymentColumns = `id, agent_id, kind, pipeline_id, pipeline_version, config, config_hash, rollback_of,
	created_by, reason, created_at_ms, status, error, updated_at_ms`

// CreateDeployment records a push and makes it the agent's desired config,
// in one transaction.
func (r *Repo) CreateDeployment(ctx context.Context, d *Deployment) error {
	return r.store.Tx(ctx, func(tx *sql.Tx) error {
		err := database.ExpectOne(tx.ExecContext(ctx, r.store.Rebind(
			`UPDATE fleet_agents SET deployment_id = ?, pipeline_id = ?, pipeline_version = ? WHERE id = ?`),
			d.ID, d.PipelineID, d.PipelineVersion, d.AgentID))
		if errors.Is(err, database.ErrConflict) {
			return fmt.Errorf("agent %s: %w", d.AgentID, database.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, r.store.Rebind(`INSERT INTO fleet_deployments (`+deploymentColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			d.ID, d.AgentID, d.Kind, d.PipelineID, d.PipelineVersion, d.Config, d.ConfigHash, d.RollbackOf,
			d.CreatedBy, d.Reason, ms(d.CreatedAt), d.Status, d.Error, ms(d.UpdatedAt))
		if err != nil {
			return fmt.Errorf("insert deployment: %w", err)
		}
		return nil
	})
}

// SetDeploymentStatus records the agent's answer to a deployment.
func (r *Repo) SetDeploymentStatus(ctx context.Context, id, status, errMsg string, now time.Time) error {
	err := database.ExpectOne(r.store.DB.ExecContext(ctx, r.store.Rebind(
		`UPDATE fleet_deployments SET status = ?, error = ?, updated_at_ms = ? WHERE id = ?`),
		status, errMsg, ms(now), id))
	if errors.Is(err, database.ErrConflict) {
		return fmt.Errorf("deployment %s: %w", id, database.ErrNotFound)
	}
	return err
}

// GetDeployment returns one deployment or database.ErrNotFound.
func (r *Repo) GetDeployment(ctx context.Context, id string) (*Deployment, error) {
	row := r.store.DB.QueryRowContext(ctx, r.store.Rebind(`SELECT `+deploymentColumns+` FROM fleet_deployments WHERE id = ?`), id)
	d, err := scanDeployment(row)
	if err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", id, database.NotFound(err))
	}
	return d, nil
}

// History returns an agent's deployments, newest first, with ids before
// cursor (empty: from the newest).
func (r *Repo) History(ctx context.Context, agentID, cursor string, limit int) ([]*Deployment, error) {
	q := `SELECT ` + deploymentColumns + ` FROM fleet_deployments WHERE agent_id = ?`
	args := []any{agentID}
	if cursor != "" {
		q += ` AND id < ?`
		args = append(args, cursor)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := r.store.DB.QueryContext(ctx, r.store.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("deployment history: %w", err)
	}
	defer rows.Close()
	var out []*Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("deployment history: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deployment history: %w", err)
	}
	return out, nil
}

func scanDeployment(s scanner) (*Deployment, error) {
	var (
		d                Deployment
		created, updated int64
	)
	err := s.Scan(&d.ID, &d.AgentID, &d.Kind, &d.PipelineID, &d.PipelineVersion, &d.Config, &d.ConfigHash,
		&d.RollbackOf, &d.CreatedBy, &d.Reason, &created, &d.Status, &d.Error, &updated)
	if err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return &d, nil
}

// prefixed qualifies a column list with a table alias.
func prefixed(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
