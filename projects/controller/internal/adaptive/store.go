package adaptive

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationService names the goose version table of the adaptive tables.
const migrationService = "controller-adaptive"

// Store defaults.
const (
	DefaultDecisionsKept = 1000 // per policy
	DefaultMaxPolicies   = 500
)

// Store keeps adaptive policies and their decisions in SQLite or
// PostgreSQL. Decisions are bounded: the last DecisionsKept per policy.
type Store struct {
	db  *database.Store
	now func() time.Time
	// DecisionsKept bounds the decisions kept per policy (0 = default).
	DecisionsKept int
	// MaxPolicies bounds the stored policies; Create refuses more (0 = default).
	MaxPolicies int
}

// NewStore returns a store over db; Migrate creates its tables.
func NewStore(db *database.Store) *Store { return &Store{db: db, now: time.Now} }

// Migrate creates or upgrades the adaptive tables.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.db.Migrate(ctx, migrationService, migrations); err != nil {
		return fmt.Errorf("adaptive migrations: %w", err)
	}
	return nil
}

func randomID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func enabled(spec apiv1.AdaptivePolicySpec) int {
	if spec.Action == apiv1.AdaptiveShadow || spec.Action == apiv1.AdaptiveApply {
		return 1
	}
	return 0
}

// CheckSpec validates a spec as the API receives it: every problem at
// once, as field errors (400).
func CheckSpec(spec apiv1.AdaptivePolicySpec) error {
	if _, err := PolicyFromSpec("check", spec); err != nil {
		var fe []problem.FieldError
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok {
				path, msg = "", line
			}
			fe = append(fe, problem.FieldError{Path: path, Message: msg})
		}
		return problem.BadRequest("invalid adaptive policy", fe...)
	}
	return nil
}

// PolicyFromSpec turns a stored spec into the policy a Controller runs.
func PolicyFromSpec(id string, spec apiv1.AdaptivePolicySpec) (Policy, error) {
	p := Policy{ID: id, Selector: spec.Selector, Stream: spec.Stream, Action: spec.Action, Hysteresis: spec.Hysteresis,
		ExplosionFactor: spec.ExplosionFactor, OscillationSwitches: spec.OscillationSwitches}
	for _, m := range spec.Modes {
		p.Modes = append(p.Modes, Mode{Name: m.Name, PipelineID: m.PipelineID, PipelineVersion: m.PipelineVersion, UpTo: m.UpTo})
	}
	var errs []error
	parse := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a non-negative Go duration such as 2m", field, s))
			return 0
		}
		return d
	}
	p.MinDwell = parse("min_dwell", spec.MinDwell)
	p.OscillationWindow = parse("oscillation_window", spec.OscillationWindow)
	for i, m := range spec.Modes {
		if m.PipelineVersion < 0 {
			errs = append(errs, fmt.Errorf("modes[%d].pipeline_version: must not be negative", i))
		}
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}

// Create stores a new policy with version 1; the caller validated spec.
func (s *Store) Create(ctx context.Context, team, actor string, spec apiv1.AdaptivePolicySpec) (*apiv1.AdaptivePolicy, error) {
	max := s.MaxPolicies
	if max <= 0 {
		max = DefaultMaxPolicies
	}
	var n int
	if err := s.db.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM adaptive_policies`).Scan(&n); err != nil {
		return nil, fmt.Errorf("count adaptive policies: %w", err)
	}
	if n >= max {
		return nil, problem.Conflict("%d adaptive policies are stored, the most allowed (controller.adaptive_max_policies); delete one first", n)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	p := &apiv1.AdaptivePolicy{ID: randomID("ap-"), Team: team, Version: 1, AdaptivePolicySpec: spec, CreatedBy: actor,
		CreatedAt: now, UpdatedAt: now}
	doc, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode adaptive policy: %w", err)
	}
	_, err = s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO adaptive_policies
		(id, team, enabled, version, doc, mode, mode_since_ms, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		p.ID, team, enabled(spec), p.Version, string(doc), "", 0, now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("insert adaptive policy: %w", err)
	}
	return p, nil
}

const policyColumns = `doc, version, mode, mode_since_ms`

func scanPolicy(row interface{ Scan(...any) error }) (*apiv1.AdaptivePolicy, error) {
	var (
		doc     string
		version int64
		mode    string
		sinceMS int64
	)
	if err := row.Scan(&doc, &version, &mode, &sinceMS); err != nil {
		return nil, err
	}
	var p apiv1.AdaptivePolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode adaptive policy: %w", err)
	}
	p.Version, p.Mode, p.ModeSince = version, mode, nil
	if sinceMS != 0 {
		t := time.UnixMilli(sinceMS).UTC()
		p.ModeSince = &t
	}
	return &p, nil
}

// Get returns one policy, or a 404 wrapping database.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*apiv1.AdaptivePolicy, error) {
	p, err := scanPolicy(s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT `+policyColumns+` FROM adaptive_policies WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFound("adaptive policy %s not found", id).Wrap(database.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get adaptive policy %s: %w", id, err)
	}
	return p, nil
}

func (s *Store) queryPolicies(ctx context.Context, q string, args ...any) ([]*apiv1.AdaptivePolicy, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list adaptive policies: %w", err)
	}
	defer rows.Close()
	var out []*apiv1.AdaptivePolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list adaptive policies: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// teamFilter appends `AND <col> IN (...)` for teams (nil: every team).
func teamFilter(q string, args []any, teams []string) (string, []any) {
	if teams == nil {
		return q, args
	}
	q += ` AND team IN (?` + strings.Repeat(`, ?`, len(teams)-1) + `)`
	for _, t := range teams {
		args = append(args, t)
	}
	return q, args
}

// Find lists up to limit policies of teams (nil: every team; empty: none)
// by id after cursor.
func (s *Store) Find(ctx context.Context, teams []string, cursor string, limit int) ([]*apiv1.AdaptivePolicy, error) {
	if teams != nil && len(teams) == 0 {
		return nil, nil
	}
	q, args := teamFilter(`SELECT `+policyColumns+` FROM adaptive_policies WHERE id > ?`, []any{cursor}, teams)
	return s.queryPolicies(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit)...)
}

// Enabled lists up to limit policies in shadow or apply, by id after cursor.
func (s *Store) Enabled(ctx context.Context, cursor string, limit int) ([]*apiv1.AdaptivePolicy, error) {
	return s.queryPolicies(ctx, `SELECT `+policyColumns+` FROM adaptive_policies WHERE enabled = 1 AND id > ? ORDER BY id LIMIT ?`,
		cursor, limit)
}

// Update replaces the spec of policy id read at version (409 when it
// changed since) and bumps the version. The mode is kept when the new
// modes still name it, else reset to the least strict.
func (s *Store) Update(ctx context.Context, id string, version int64, spec apiv1.AdaptivePolicySpec) (*apiv1.AdaptivePolicy, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Version != version {
		return nil, problem.Conflict("adaptive policy %s changed since version %d; read it again", id, version).Wrap(database.ErrConflict)
	}
	keep := false
	for _, m := range spec.Modes {
		keep = keep || m.Name == p.Mode
	}
	next := *p
	next.AdaptivePolicySpec, next.Version = spec, p.Version+1
	next.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	doc, err := json.Marshal(&next)
	if err != nil {
		return nil, fmt.Errorf("encode adaptive policy: %w", err)
	}
	q := `UPDATE adaptive_policies SET enabled = ?, version = ?, doc = ?, updated_at_ms = ?`
	if !keep {
		q += `, mode = '', mode_since_ms = 0`
		next.Mode, next.ModeSince = "", nil
	}
	err = database.ExpectOne(s.db.DB.ExecContext(ctx, s.db.Rebind(q+` WHERE id = ? AND version = ?`),
		enabled(spec), next.Version, string(doc), next.UpdatedAt.UnixMilli(), id, version))
	if errors.Is(err, database.ErrConflict) {
		return nil, problem.Conflict("adaptive policy %s changed since version %d; read it again", id, version).Wrap(database.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("update adaptive policy %s: %w", id, err)
	}
	return &next, nil
}

// SetMode records the mode the target now runs (the loop's write; it
// leaves the version alone so it never races a user's update).
func (s *Store) SetMode(ctx context.Context, id, mode string, since time.Time) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`UPDATE adaptive_policies SET mode = ?, mode_since_ms = ? WHERE id = ?`),
		mode, since.UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("set mode of adaptive policy %s: %w", id, err)
	}
	return nil
}

// Delete removes a policy and its decisions (404 when absent).
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM adaptive_policies WHERE id = ?`), id)); err != nil {
			if errors.Is(err, database.ErrConflict) {
				return problem.NotFound("adaptive policy %s not found", id).Wrap(database.ErrNotFound)
			}
			return fmt.Errorf("delete adaptive policy %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM adaptive_decisions WHERE policy_id = ?`), id); err != nil {
			return fmt.Errorf("delete decisions of adaptive policy %s: %w", id, err)
		}
		return nil
	})
}

// decisionID sorts by time: 16 hex digits of Unix milliseconds, then 4
// random bytes.
func decisionID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli()))
	_, _ = rand.Read(b[8:])
	return "ad-" + hex.EncodeToString(b[:])
}

// Record stores a decision of a policy of team and keeps the policy's
// last DecisionsKept.
func (s *Store) Record(ctx context.Context, team string, d *Decision) (*apiv1.AdaptiveDecision, error) {
	w := &apiv1.AdaptiveDecision{ID: decisionID(d.Time), PolicyID: d.PolicyID, Team: team, Time: d.Time.UTC().Truncate(time.Millisecond),
		ActiveSeries: d.ActiveSeries, PreviousSeries: d.PreviousSeries, From: d.From, To: d.To, PipelineID: d.PipelineID,
		PipelineVersion: d.PipelineVersion, Reason: d.Reason, Emergency: d.Emergency, Shadow: d.Shadow, Applied: d.Applied,
		RolloutID: d.RolloutID, Error: d.Error, Oscillating: d.Oscillating, SwitchesInWindow: d.Switches}
	doc, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode adaptive decision: %w", err)
	}
	keep := s.DecisionsKept
	if keep <= 0 {
		keep = DefaultDecisionsKept
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO adaptive_decisions (id, policy_id, team, doc) VALUES (?, ?, ?, ?)`),
			w.ID, w.PolicyID, team, string(doc)); err != nil {
			return fmt.Errorf("insert adaptive decision: %w", err)
		}
		// Everything older than the keep-th newest goes; with fewer, the
		// subquery is NULL and nothing matches.
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM adaptive_decisions WHERE policy_id = ? AND id <
			(SELECT id FROM adaptive_decisions WHERE policy_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`),
			w.PolicyID, w.PolicyID, keep-1); err != nil {
			return fmt.Errorf("prune adaptive decisions: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Decisions lists up to limit decisions of teams (nil: every team; empty:
// none), of one policy when policyID is set, newest first, before cursor.
func (s *Store) Decisions(ctx context.Context, teams []string, policyID, cursor string, limit int) ([]apiv1.AdaptiveDecision, error) {
	if teams != nil && len(teams) == 0 {
		return nil, nil
	}
	q, args := `SELECT doc FROM adaptive_decisions WHERE 1 = 1`, []any{}
	if cursor != "" {
		q, args = q+` AND id < ?`, append(args, cursor)
	}
	if policyID != "" {
		q, args = q+` AND policy_id = ?`, append(args, policyID)
	}
	q, args = teamFilter(q, args, teams)
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list adaptive decisions: %w", err)
	}
	defer rows.Close()
	var out []apiv1.AdaptiveDecision
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list adaptive decisions: %w", err)
		}
		var d apiv1.AdaptiveDecision
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return nil, fmt.Errorf("decode adaptive decision: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
