package identity

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
			s, err := Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			// Migrations are idempotent.
			if _, err := Open(ctx, db); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTeam(ctx, "alpha"); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTeam(ctx, "alpha"); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("duplicate team: %v", err)
			}
			for _, n := range []string{"ann", "bob", "cid"} {
				if err := s.CreateUser(ctx, User{Username: n, PasswordHash: "h", Role: "viewer", Teams: []string{"alpha"}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateUser(ctx, User{Username: "ann", PasswordHash: "h", Role: "viewer"}); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("duplicate user: %v", err)
			}
			if err := s.CreateUser(ctx, User{Username: "dan", PasswordHash: "h", Role: "viewer", Teams: []string{"nope"}}); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("unknown team: %v", err)
			}
			page, err := s.ListUsers(ctx, "ann", 10)
			if err != nil || len(page) != 2 || page[0].Username != "bob" || len(page[0].Teams) != 1 {
				t.Fatalf("cursor page: %+v %v", page, err)
			}
			exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
			k := APIKey{ID: "id1", Name: "n", Hash: "h", Role: "viewer", Scopes: []string{"read", "ingest"}, Teams: []string{"alpha"},
				CreatedBy: "ann", CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ExpiresAt: &exp}
			if err := s.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetAPIKey(ctx, "id1")
			if err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || len(got.Scopes) != 2 || got.RevokedAt != nil {
				t.Fatalf("key round trip: %+v %v", got, err)
			}
			if err := s.RevokeAPIKey(ctx, "id1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeAPIKey(ctx, "nope", time.Now()); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("revoke unknown: %v", err)
			}
			if err := s.CreateSession(ctx, "s1", "ann", "rh1", "127.0.0.1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.RotateRefresh(ctx, "s1", "rh1", "rh2"); err != nil {
				t.Fatal(err)
			}
			if err := s.RotateRefresh(ctx, "s1", "rh1", "rh3"); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("stale refresh rotated: %v", err)
			}
			if sid, err := s.UsedRefresh(ctx, "rh1"); err != nil || sid != "s1" {
				t.Fatalf("used refresh token: %q %v", sid, err)
			}
			if _, err := s.UsedRefresh(ctx, "rh2"); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("current refresh token reported used: %v", err)
			}
			if err := s.DeleteUser(ctx, "ann"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetSession(ctx, "s1"); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("session of deleted user survives: %v", err)
			}
			if err := s.DeleteTeam(ctx, "alpha"); err != nil {
				t.Fatal(err)
			}
			if u, err := s.GetUser(ctx, "bob"); err != nil || len(u.Teams) != 0 {
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
	s, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateUser(ctx, User{Username: "u", PasswordHash: "h", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	_ = s.CreateSession(ctx, "dead", "u", "h1", "", now.Add(-48*time.Hour))
	_ = s.CreateSession(ctx, "live", "u", "h2", "", now.Add(time.Hour))
	for sid, hashes := range map[string][2]string{"dead": {"h1", "h1b"}, "live": {"h2", "h2b"}} {
		if err := s.RotateRefresh(ctx, sid, hashes[0], hashes[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddSigningKey(ctx, SigningKey{KID: "old", Secret: "x", CreatedAt: now.Add(-72 * time.Hour)}, now.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSigningKey(ctx, SigningKey{KID: "new", Secret: "y", CreatedAt: now}, now.Add(-47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The dead session with its used refresh token and the key "old"
	// retired at -47h go; "new" has no retirement and the live session has
	// not expired.
	n, err := s.Prune(ctx, now.Add(-24*time.Hour), now.Add(-24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d rows (%v), want 3", n, err)
	}
	if _, err := s.UsedRefresh(ctx, "h1"); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("used token of a pruned session kept: %v", err)
	}
	if sid, err := s.UsedRefresh(ctx, "h2"); err != nil || sid != "live" {
		t.Fatalf("used token of a live session pruned: %q %v", sid, err)
	}
	if _, err := s.GetSession(ctx, "live"); err != nil {
		t.Fatalf("live session pruned: %v", err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].KID != "new" {
		t.Fatalf("signing keys after prune: %+v %v", keys, err)
	}
}
