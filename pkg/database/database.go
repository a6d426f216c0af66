// Package database is Phoenix's one store abstraction over embedded SQLite
// (pure Go, the default) and PostgreSQL (for scale). It opens either from a
// URL, applies each service's schema migrations with goose, runs
// transactions, and offers optimistic-concurrency helpers.
//
// Queries are written once with `?` placeholders; Rebind turns them into
// `$1, $2, ...` for PostgreSQL. Services own their tables and their
// migrations; each service keeps its own goose version table so services can
// migrate independently.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL flavour of a Store.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound reports a missing row.
var ErrNotFound = errors.New("not found")

// ErrConflict reports a failed optimistic-concurrency check: the row changed
// (or vanished) since it was read.
var ErrConflict = errors.New("version conflict")

// Store is an open database. It is safe for concurrent use.
type Store struct {
	DB      *sql.DB
	Dialect Dialect
}

// Open connects to url: empty means embedded SQLite at dataDir/phoenix.db,
// "sqlite://PATH" or a plain path means SQLite at PATH, postgres:// means
// PostgreSQL. It pings the server so an unreachable database fails at start.
func Open(ctx context.Context, url, dataDir string) (*Store, error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(10)
		db.SetConnMaxIdleTime(5 * time.Minute)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := db.PingContext(pctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		return &Store{DB: db, Dialect: Postgres}, nil
	default:
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
			path = filepath.Join(dataDir, "phoenix.db")
		}
		return openSQLite(ctx, path)
	}
}

func openSQLite(ctx context.Context, path string) (*Store, error) {
	// WAL lets readers run beside the single writer; busy_timeout makes
	// concurrent writers wait instead of failing with SQLITE_BUSY.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if path == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(ON)&_txlock=immediate"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if path == ":memory:" {
		db.SetMaxOpenConns(1) // each connection would get its own empty database
	} else {
		db.SetMaxOpenConns(8)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Store{DB: db, Dialect: SQLite}, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.DB.Close() }

// Ping checks the database answers, for readiness.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Rebind turns `?` placeholders into the store's dialect.
func (s *Store) Rebind(q string) string { return Rebind(s.Dialect, q) }

// Rebind turns `?` placeholders into `$n` for PostgreSQL. Queries must not
// contain a literal question mark.
func Rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := range len(q) {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Querier is what both *sql.DB and *sql.Tx offer; helpers take it so they
// work inside and outside transactions.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx runs fn in a transaction, committing when fn returns nil and rolling back
// otherwise (including on panic, which is re-raised).
func (s *Store) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// ExpectOne turns the result of a versioned UPDATE or DELETE
// (`... WHERE id = ? AND version = ?`) into ErrConflict when no row matched.
func ExpectOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("rows affected: %w", err)
	}
	if n == 0 {
		return ErrConflict
	}
	return nil
}

// NotFound maps sql.ErrNoRows to ErrNotFound, leaving other errors alone.
func NotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Migrate applies one service's migrations, recording versions in the table
// goose_<service>. fsys holds the files in a migrations/ folder (what
// `//go:embed migrations` gives), or at its root.
//
// One rule for SQL dialects, for every service: a migration is written once,
// portable, at the folder's root; only a version whose SQL differs between
// SQLite and PostgreSQL (BLOB vs BYTEA, AUTOINCREMENT vs BIGSERIAL) lives in
// sqlite/ and postgres/ instead, one file per dialect with the same version,
// replacing a root file of that version if there is one. CheckMigrations
// enforces the rule; Migrate refuses a folder that breaks it.
func (s *Store) Migrate(ctx context.Context, service string, fsys fs.FS) ([]string, error) {
	files, err := dialectFiles(fsys, s.Dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", service, err)
	}
	gd := database.DialectSQLite3
	if s.Dialect == Postgres {
		gd = database.DialectPostgres
	}
	table := "goose_" + strings.ReplaceAll(service, "-", "_")
	store, err := database.NewStore(gd, table)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", service, err)
	}
	p, err := goose.NewProvider("", s.DB, files, goose.WithStore(store), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", service, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations for %s: %w", service, err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}
