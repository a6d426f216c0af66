package rollout

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationService names the goose version table of the rollout tables.
const migrationService = "controller-rollout"

// Store keeps rollouts in SQLite or PostgreSQL. Every write names the
// version it read and is refused with a 409 wrapping database.ErrConflict
// when the row changed since.
type Store struct {
	db  *database.Store
	now func() time.Time
}

// NewStore returns a store over db; Migrate creates its table.
func NewStore(db *database.Store) *Store { return &Store{db: db, now: time.Now} }

// Migrate creates or upgrades the rollout table.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.db.Migrate(ctx, migrationService, migrations); err != nil {
		return fmt.Errorf("rollout migrations: %w", err)
	}
	return nil
}

// Create stores a new rolling rollout with version 1.
func (s *Store) Create(ctx context.Context, r *Record, actor string) error {
	if r.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.ID = "ro-" + hex.EncodeToString(b[:])
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	r.State, r.Version, r.CreatedBy, r.CreatedAt, r.UpdatedAt = Rolling, 1, actor, now, now
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode rollout: %w", err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO rollouts
		(id, team, state, active, version, doc, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, r.Team, string(r.State), rolloutActive(r), r.Version, string(doc), toMS(now), toMS(now))
		if err != nil {
			return fmt.Errorf("insert rollout: %w", err)
		}
		return s.insertEvent(ctx, tx, eventOf(nil, r, actor))
	})
}

// Get returns one rollout, or a 404 wrapping database.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	var doc string
	err := s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT doc FROM rollouts WHERE id = ?`), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFound("rollout %s not found", id).Wrap(database.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get rollout %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("decode rollout %s: %w", id, err)
	}
	return &r, nil
}

// Live lists up to limit rollouts the runner still has work on,
// by id after cursor.
func (s *Store) Live(ctx context.Context, cursor string, limit int) ([]*Record, error) {
	return s.query(ctx, `SELECT doc FROM rollouts WHERE active = 1 AND id > ? ORDER BY id LIMIT ?`, cursor, limit)
}

// query runs a SELECT doc query and decodes every row.
func (s *Store) query(ctx context.Context, q string, args ...any) ([]*Record, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list rollouts: %w", err)
		}
		var r Record
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			return nil, fmt.Errorf("decode rollout: %w", err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// Find lists up to limit rollouts of teams (nil: every team; empty: none),
// by id after cursor, for the API's paginated list.
func (s *Store) Find(ctx context.Context, teams []string, cursor string, limit int) ([]*Record, error) {
	if teams != nil && len(teams) == 0 {
		return nil, nil
	}
	q, args := `SELECT doc FROM rollouts WHERE id > ?`, []any{cursor}
	if teams != nil {
		q += ` AND team IN (?` + strings.Repeat(`, ?`, len(teams)-1) + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	args = append(args, limit)
	return s.query(ctx, q+` ORDER BY id LIMIT ?`, args...)
}

// Save writes r if r.Version is still the stored one, and bumps it; the
// runner's writes name Actor.
func (s *Store) Save(ctx context.Context, r *Record) error { return s.SaveAs(ctx, r, Actor) }

// Actor is who the runner's writes name in rollout events.
const Actor = "controller"

// SaveAs is Save naming actor in the write's event, which is stored in the
// same transaction (the outbox the runner publishes from).
func (s *Store) SaveAs(ctx context.Context, r *Record, actor string) error {
	prev, err := s.Get(ctx, r.ID)
	if err != nil {
		return err
	}
	next := *r
	next.Version = r.Version + 1
	next.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	doc, err := json.Marshal(&next)
	if err != nil {
		return fmt.Errorf("encode rollout: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`UPDATE rollouts SET state = ?, active = ?, version = ?, doc = ?,
		updated_at_ms = ? WHERE id = ? AND version = ?`),
			string(next.State), rolloutActive(&next), next.Version, string(doc), toMS(next.UpdatedAt), r.ID, r.Version))
		if err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, eventOf(prev, &next, actor))
	})
	if errors.Is(err, database.ErrConflict) {
		return problem.Conflict("rollout %s changed since version %d; read it again", r.ID, r.Version).Wrap(database.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update rollout %s: %w", r.ID, err)
	}
	*r = next
	return nil
}

// Abort stops a rolling rollout (read at version); the runner then
// gives every agent its previous config back.
func (s *Store) Abort(ctx context.Context, id string, version int64, actor, reason string) (*Record, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Version != version {
		return nil, problem.Conflict("rollout %s changed since version %d; read it again", id, version).Wrap(database.ErrConflict)
	}
	if r.State != Rolling {
		return nil, problem.Conflict("rollout %s is %s: only a rolling rollout can be aborted", id, r.State)
	}
	r.State, r.Reason = Aborted, reason
	return r, s.SaveAs(ctx, r, actor)
}

func rolloutActive(r *Record) int {
	if r.HoldsAgents() {
		return 1
	}
	return 0
}

func toMS(t time.Time) int64 { return t.UnixMilli() }
