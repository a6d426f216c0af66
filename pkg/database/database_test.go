package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// stores returns a fresh store per backend: embedded SQLite and the local
// PostgreSQL server (skipped locally when absent, required in CI).
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	lite, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	out["sqlite"] = lite
	if !testutil.PostgresReachable() {
		t.Log("PostgreSQL not reachable: running the SQLite leg only")
		return out
	}
	pg, err := Open(ctx, testutil.FreshPostgres(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	out["postgres"] = pg
	return out
}

func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			applied, err := s.Migrate(ctx, "widget-service", os.DirFS("testdata/migrations"))
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != 2 {
				t.Fatalf("applied %v, want 2 migrations", applied)
			}
			again, err := s.Migrate(ctx, "widget-service", os.DirFS("testdata/migrations"))
			if err != nil || len(again) != 0 {
				t.Fatalf("second migrate applied %v (err %v), want nothing", again, err)
			}
			var n int
			if err := s.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_widget_service").Scan(&n); err != nil {
				t.Fatalf("version table: %v", err)
			}

			t.Run("commit", func(t *testing.T) {
				err := s.Tx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO widgets (id, name) VALUES (?, ?)"), "w1", "first")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				var got string
				if err := s.DB.QueryRowContext(ctx, s.Rebind("SELECT name FROM widgets WHERE id = ?"), "w1").Scan(&got); err != nil || got != "first" {
					t.Fatalf("got %q, %v", got, err)
				}
			})
			t.Run("rollback on error", func(t *testing.T) {
				boom := errors.New("boom")
				err := s.Tx(ctx, func(tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO widgets (id, name) VALUES (?, ?)"), "w2", "second"); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatalf("got %v", err)
				}
				err = NotFound(s.DB.QueryRowContext(ctx, s.Rebind("SELECT name FROM widgets WHERE id = ?"), "w2").Scan(new(string)))
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("row survived rollback: %v", err)
				}
			})
			t.Run("rollback on panic", func(t *testing.T) {
				func() {
					defer func() { _ = recover() }()
					_ = s.Tx(ctx, func(tx *sql.Tx) error {
						_, _ = tx.ExecContext(ctx, s.Rebind("INSERT INTO widgets (id, name) VALUES (?, ?)"), "w3", "third")
						panic("handler bug")
					})
				}()
				err := NotFound(s.DB.QueryRowContext(ctx, s.Rebind("SELECT name FROM widgets WHERE id = ?"), "w3").Scan(new(string)))
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("row survived panic: %v", err)
				}
			})
			t.Run("optimistic concurrency", func(t *testing.T) {
				update := s.Rebind("UPDATE widgets SET name = ?, version = version + 1 WHERE id = ? AND version = ?")
				if err := ExpectOne(s.DB.ExecContext(ctx, update, "renamed", "w1", 1)); err != nil {
					t.Fatalf("first update: %v", err)
				}
				if err := ExpectOne(s.DB.ExecContext(ctx, update, "stale", "w1", 1)); !errors.Is(err, ErrConflict) {
					t.Fatalf("stale update: got %v, want ErrConflict", err)
				}
			})
			t.Run("concurrent writers", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 16)
				for i := range 16 {
					wg.Go(func() {
						errs <- s.Tx(ctx, func(tx *sql.Tx) error {
							_, err := tx.ExecContext(ctx, s.Rebind("INSERT INTO widgets (id, name) VALUES (?, ?)"), fmt.Sprintf("c%d", i), "c")
							return err
						})
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				var n int
				if err := s.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM widgets WHERE name = 'c'").Scan(&n); err != nil || n != 16 {
					t.Fatalf("got %d rows (%v), want 16", n, err)
				}
			})
		})
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		d    Dialect
		in   string
		want string
	}{
		{SQLite, "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = ? AND b = ?"},
		{Postgres, "SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		if got := Rebind(tt.d, tt.in); got != tt.want {
			t.Errorf("Rebind(%s, %q) = %q, want %q", tt.d, tt.in, got, tt.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	port := testutil.FreePort(t)
	if _, err := Open(ctx, fmt.Sprintf("postgres://nobody@127.0.0.1:%d/none?connect_timeout=2", port), ""); err == nil {
		t.Fatal("expected a connection error for a closed port")
	}
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, "", filepath.Join(blocker, "sub")); err == nil {
		t.Fatal("expected an error for a data dir under a file")
	}
}
