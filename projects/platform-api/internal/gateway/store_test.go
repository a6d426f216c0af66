package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// TestStoreBothDialects runs the repository on SQLite and PostgreSQL.
func TestStoreBothDialects(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			url := ""
			if dialect == "postgres" {
				url = testutil.FreshPostgres(t)
			}
			db, err := database.Open(ctx, url, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			s, err := newAuthStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			// Migrations are idempotent.
			if _, err := newAuthStore(ctx, db); err != nil {
				t.Fatal(err)
			}
			if err := s.createTeam(ctx, "alpha"); err != nil {
				t.Fatal(err)
			}
			if err := s.createTeam(ctx, "alpha"); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("duplicate team: %v", err)
			}
			for _, n := range []string{"ann", "bob", "cid"} {
				if err := s.createUser(ctx, user{Username: n, PasswordHash: "h", Role: "viewer", Teams: []string{"alpha"}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.createUser(ctx, user{Username: "ann", PasswordHash: "h", Role: "viewer"}); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("duplicate user: %v", err)
			}
			if err := s.createUser(ctx, user{Username: "dan", PasswordHash: "h", Role: "viewer", Teams: []string{"nope"}}); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("unknown team: %v", err)
			}
			page, err := s.listUsers(ctx, "ann", 10)
			if err != nil || len(page) != 2 || page[0].Username != "bob" || len(page[0].Teams) != 1 {
				t.Fatalf("cursor page: %+v %v", page, err)
			}
			exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
			k := apiKeyRow{ID: "id1", Name: "n", Hash: "h", Role: "viewer", Scopes: []string{"read", "ingest"}, Teams: []string{"alpha"},
				CreatedBy: "ann", CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ExpiresAt: &exp}
			if err := s.createAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			got, err := s.getAPIKey(ctx, "id1")
			if err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || len(got.Scopes) != 2 || got.RevokedAt != nil {
				t.Fatalf("key round trip: %+v %v", got, err)
			}
			if err := s.revokeAPIKey(ctx, "id1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.revokeAPIKey(ctx, "nope", time.Now()); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("revoke unknown: %v", err)
			}
			if err := s.createSession(ctx, "s1", "ann", "rh1", "127.0.0.1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.rotateRefresh(ctx, "s1", "rh1", "rh2"); err != nil {
				t.Fatal(err)
			}
			if err := s.rotateRefresh(ctx, "s1", "rh1", "rh3"); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("stale refresh rotated: %v", err)
			}
			if err := s.insertAudit(ctx, []auditEntry{{At: time.Now(), Actor: "ann", ActorKind: "user", Action: "POST /x", Method: "POST", Path: "/x", Remote: "::1", Status: 201}}); err != nil {
				t.Fatal(err)
			}
			es, err := s.listAudit(ctx, 0, "ann", 10)
			if err != nil || len(es) != 1 || es[0].Status != 201 {
				t.Fatalf("audit: %+v %v", es, err)
			}
			if err := s.deleteUser(ctx, "ann"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.getSession(ctx, "s1"); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("session of deleted user survives: %v", err)
			}
			if err := s.deleteTeam(ctx, "alpha"); err != nil {
				t.Fatal(err)
			}
			if u, err := s.getUser(ctx, "bob"); err != nil || len(u.Teams) != 0 {
				t.Fatalf("membership of deleted team: %+v %v", u, err)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := newAuthStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
	if err := s.insertAudit(ctx, []auditEntry{{At: old, Actor: "a"}, {At: recent, Actor: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.createUser(ctx, user{Username: "u", PasswordHash: "h", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_ = s.createSession(ctx, "dead", "u", "h1", "", now.Add(-48*time.Hour))
	_ = s.createSession(ctx, "live", "u", "h2", "", now.Add(time.Hour))
	n, err := s.prune(ctx, now.Add(-90*24*time.Hour), now.Add(-24*time.Hour), now.Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d rows (%v), want 2", n, err)
	}
	es, _ := s.listAudit(ctx, 0, "", 10)
	if len(es) != 1 || es[0].Actor != "b" {
		t.Fatalf("audit after prune: %+v", es)
	}
	if _, err := s.getSession(ctx, "live"); err != nil {
		t.Fatalf("live session pruned: %v", err)
	}
}
