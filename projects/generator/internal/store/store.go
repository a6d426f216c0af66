// Package store keeps the generator's pipelines and their immutable
// versions in the shared database (SQLite or PostgreSQL).
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrDuplicateName reports a second pipeline with the same name in a team.
var ErrDuplicateName = errors.New("a pipeline with this name exists in the team")

// ErrBadCursor reports a cursor this store did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// Pipeline is a named, team-owned sequence of versions, as it crosses the
// wire (pkg/apiv1).
type Pipeline = apiv1.Pipeline

// Version is one immutable config of a pipeline.
type Version struct {
	PipelineID string `json:"pipeline_id"`
	Version    int    `json:"version"`
	Config     string `json:"config"`
	ConfigHash string `json:"config_hash"`
	Request    string `json:"-"` // the generate request (JSON) when generated
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
	Reason     string `json:"reason"`
}

// Store is the pipelines table pair.
type Store struct {
	db  *database.Store
	now func() time.Time
}

// New applies the generator's migrations and returns the store.
func New(ctx context.Context, db *database.Store) (*Store, error) {
	if _, err := db.Migrate(ctx, "generator", migrations); err != nil {
		return nil, err
	}
	return &Store{db: db, now: time.Now}, nil
}

// timeFormat has a fixed width so text comparison orders times (cursors
// compare created_at as text on both databases).
const timeFormat = "2006-01-02T15:04:05.000000Z"

func (s *Store) stamp() string { return s.now().UTC().Format(timeFormat) }

// NewID returns a pipeline id: "pl-" and 16 random hex digits.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "pl-" + hex.EncodeToString(b[:])
}

// Create stores a pipeline with its first version. p.ID, timestamps and
// versions are set here.
func (s *Store) Create(ctx context.Context, p Pipeline, v Version) (Pipeline, Version, error) {
	now := s.stamp()
	p.ID, p.Version, p.CreatedAt, p.UpdatedAt, p.UpdatedBy = NewID(), 1, now, now, p.CreatedBy
	v.PipelineID, v.Version, v.CreatedAt, v.CreatedBy = p.ID, 1, now, p.CreatedBy
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO generator_pipelines
			(id, name, description, team, version, created_by, created_at, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			p.ID, p.Name, p.Description, p.Team, p.Version, p.CreatedBy, p.CreatedAt, p.UpdatedBy, p.UpdatedAt); err != nil {
			return uniqueErr(err)
		}
		return s.insertVersion(ctx, tx, v)
	})
	if err != nil {
		return Pipeline{}, Version{}, fmt.Errorf("create pipeline: %w", err)
	}
	return p, v, nil
}

func (s *Store) insertVersion(ctx context.Context, q database.Querier, v Version) error {
	_, err := q.ExecContext(ctx, s.db.Rebind(`INSERT INTO generator_pipeline_versions
		(pipeline_id, version, config, config_hash, request, created_by, created_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		v.PipelineID, v.Version, v.Config, v.ConfigHash, v.Request, v.CreatedBy, v.CreatedAt, v.Reason)
	return err
}

// Update holds the mutable fields of an update; nil leaves a field alone.
type Update struct {
	Name        *string
	Description *string
}

// AddVersion stores v as the next version of pipeline id, which must still
// be at expected (0: whatever it is now). It returns ErrConflict when the
// pipeline moved on and ErrNotFound when it is gone.
func (s *Store) AddVersion(ctx context.Context, id string, expected int, u Update, v Version) (Pipeline, Version, error) {
	var p Pipeline
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = s.get(ctx, tx, id); err != nil {
			return err
		}
		if expected != 0 && p.Version != expected {
			return database.ErrConflict
		}
		now := s.stamp()
		if u.Name != nil {
			p.Name = *u.Name
		}
		if u.Description != nil {
			p.Description = *u.Description
		}
		prev := p.Version
		p.Version, p.UpdatedAt, p.UpdatedBy = prev+1, now, v.CreatedBy
		if err := database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`UPDATE generator_pipelines
			SET name = ?, description = ?, version = ?, updated_by = ?, updated_at = ?
			WHERE id = ? AND version = ?`),
			p.Name, p.Description, p.Version, p.UpdatedBy, p.UpdatedAt, id, prev)); err != nil {
			return uniqueErr(err)
		}
		v.PipelineID, v.Version, v.CreatedAt = id, p.Version, now
		return s.insertVersion(ctx, tx, v)
	})
	if err != nil {
		return Pipeline{}, Version{}, fmt.Errorf("add pipeline version: %w", err)
	}
	return p, v, nil
}

// Get returns one pipeline.
func (s *Store) Get(ctx context.Context, id string) (Pipeline, error) {
	p, err := s.get(ctx, s.db.DB, id)
	if err != nil {
		return Pipeline{}, fmt.Errorf("get pipeline: %w", err)
	}
	return p, nil
}

const pipelineCols = `id, name, description, team, version, created_by, created_at, updated_by, updated_at`

func scanPipeline(sc interface{ Scan(...any) error }) (Pipeline, error) {
	var p Pipeline
	err := sc.Scan(&p.ID, &p.Name, &p.Description, &p.Team, &p.Version, &p.CreatedBy, &p.CreatedAt, &p.UpdatedBy, &p.UpdatedAt)
	return p, err
}

func (s *Store) get(ctx context.Context, q database.Querier, id string) (Pipeline, error) {
	p, err := scanPipeline(q.QueryRowContext(ctx, s.db.Rebind(`SELECT `+pipelineCols+` FROM generator_pipelines WHERE id = ?`), id))
	return p, database.NotFound(err)
}

// List returns pipelines newest first. teams limits the result to those
// teams (nil: every team, for admins). cursor continues a previous page.
func (s *Store) List(ctx context.Context, teams []string, limit int, cursor string) ([]Pipeline, *string, error) {
	q := `SELECT ` + pipelineCols + ` FROM generator_pipelines WHERE 1 = 1`
	var args []any
	if teams != nil {
		if len(teams) == 0 {
			return []Pipeline{}, nil, nil
		}
		q += ` AND team IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(teams)), ", ") + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	if cursor != "" {
		at, id, err := decodeCursor(cursor)
		if err != nil {
			return nil, nil, err
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	out := []Pipeline{}
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, nil, fmt.Errorf("list pipelines: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list pipelines: %w", err)
	}
	var next *string
	if len(out) > limit {
		out = out[:limit]
		c := encodeCursor(out[limit-1].CreatedAt, out[limit-1].ID)
		next = &c
	}
	return out, next, nil
}

// Cursor is the list cursor that resumes after p (List's next cursor when p
// ends a page).
func Cursor(p Pipeline) string { return encodeCursor(p.CreatedAt, p.ID) }

func encodeCursor(at, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at + "|" + id))
}

func decodeCursor(c string) (string, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", ErrBadCursor
	}
	at, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", "", ErrBadCursor
	}
	if _, err := time.Parse(timeFormat, at); err != nil {
		return "", "", ErrBadCursor
	}
	return at, id, nil
}

// Version returns version n of a pipeline (0: the latest).
func (s *Store) Version(ctx context.Context, id string, n int) (Version, error) {
	q := `SELECT pipeline_id, version, config, config_hash, request, created_by, created_at, reason
		FROM generator_pipeline_versions WHERE pipeline_id = ?`
	args := []any{id}
	if n > 0 {
		q += ` AND version = ?`
		args = append(args, n)
	} else {
		q += ` ORDER BY version DESC LIMIT 1`
	}
	var v Version
	err := s.db.DB.QueryRowContext(ctx, s.db.Rebind(q), args...).Scan(
		&v.PipelineID, &v.Version, &v.Config, &v.ConfigHash, &v.Request, &v.CreatedBy, &v.CreatedAt, &v.Reason)
	if err != nil {
		return Version{}, fmt.Errorf("get pipeline version: %w", database.NotFound(err))
	}
	return v, nil
}

// Versions lists a pipeline's versions newest first, without their configs'
// text beyond the hash (fetch one version for its config). cursor is the
// version number the previous page ended at.
func (s *Store) Versions(ctx context.Context, id string, limit int, cursor string) ([]Version, *string, error) {
	q := `SELECT pipeline_id, version, config_hash, created_by, created_at, reason
		FROM generator_pipeline_versions WHERE pipeline_id = ?`
	args := []any{id}
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 1 {
			return nil, nil, ErrBadCursor
		}
		q += ` AND version < ?`
		args = append(args, n)
	}
	q += ` ORDER BY version DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list pipeline versions: %w", err)
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		var v Version
		if err := rows.Scan(&v.PipelineID, &v.Version, &v.ConfigHash, &v.CreatedBy, &v.CreatedAt, &v.Reason); err != nil {
			return nil, nil, fmt.Errorf("list pipeline versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list pipeline versions: %w", err)
	}
	var next *string
	if len(out) > limit {
		out = out[:limit]
		c := strconv.Itoa(out[limit-1].Version)
		next = &c
	}
	return out, next, nil
}

// Delete removes a pipeline and its versions.
func (s *Store) Delete(ctx context.Context, id string) error {
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM generator_pipeline_versions WHERE pipeline_id = ?`), id); err != nil {
			return err
		}
		err := database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM generator_pipelines WHERE id = ?`), id))
		if errors.Is(err, database.ErrConflict) {
			return database.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete pipeline: %w", err)
	}
	return nil
}

// uniqueErr maps a unique-constraint violation to ErrDuplicateName.
func uniqueErr(err error) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return ErrDuplicateName
	}
	if strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return ErrDuplicateName
	}
	return err
}
