// Package identity is the platform-api's store of who may call Phoenix:
// users, teams and their members, API keys, sessions (refresh tokens) and
// the JWT signing keys. Each concern has its own file; this one holds the
// connection, the migrations and the helpers they share.
package identity

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

//go:embed migrations
var migrationsFS embed.FS

// Store is the platform-api's own tables: users, teams, API keys, sessions
// (refresh tokens) and JWT signing keys. The audit log shares the database
// and the write lock (package audit, through Tx and Query).
type Store struct {
	db *database.Store
	// writeMu serializes this service's writes on SQLite, which allows one
	// writer at a time: queueing here is fair and immediate, where SQLite's
	// busy handler would make concurrent writers sleep and retry.
	writeMu sync.Mutex
	stmtMu  sync.Mutex
	stmts   map[string]*sql.Stmt
}

func (s *Store) lockWrites() func() {
	if s.db.Dialect != database.SQLite {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer s.lockWrites()()
	return s.db.Tx(ctx, fn)
}

// Tx runs fn in a transaction under the store's write lock, so other tables
// of this service (the audit log) queue with the identity writes on SQLite.
func (s *Store) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error { return s.tx(ctx, fn) }

// Exec runs one cached write statement (query in ? form) under the write lock.
func (s *Store) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.exec(ctx, s.q(query), args...)
}

// Query runs one cached read statement (query in ? form).
func (s *Store) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.query(ctx, s.q(query), args...)
}

// Rebind turns a query in ? form into the database's placeholder form.
func (s *Store) Rebind(query string) string { return s.q(query) }

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	defer s.lockWrites()()
	return st.ExecContext(ctx, args...)
}

// stmt returns a cached prepared statement: parsing SQL was a third of the
// cost of a write on SQLite. The cache holds this file's fixed queries only.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// errRow is a *sql.Row stand-in for a failed prepare.
type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

type scanner interface{ Scan(...any) error }

func (s *Store) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Open migrates the platform-api tables (audit_log included: one schema,
// one migration history) and returns the store.
func Open(ctx context.Context, db *database.Store) (*Store, error) {
	if _, err := db.Migrate(ctx, "platform-api", migrationsFS); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// user is a row of users plus its teams.
type User struct {
	Username     string
	PasswordHash string
	Role         string
	Teams        []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// APIKey is a row of api_keys; Hash is the secret's hash, never the secret.
type APIKey struct {
	ID        string
	Name      string
	Hash      string
	Role      string
	Scopes    []string
	Teams     []string
	RateLimit int
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

type Session struct {
	ID        string
	Username  string
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// SigningKey is a JWT signing key, sealed at rest.
type SigningKey struct {
	KID       string
	Secret    string // sealed
	CreatedAt time.Time
	RetireAt  *time.Time
}

// isUnique reports a unique-constraint violation on SQLite or PostgreSQL.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "duplicate key value")
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (s *Store) q(query string) string { return s.db.Rebind(query) }

// Migrations are the platform-api's tables (audit_log included), for the
// service registry: they differ per dialect, so they live in sqlite/ and
// postgres/ (pkg/database's rule).
func Migrations() fs.FS { return migrationsFS }
