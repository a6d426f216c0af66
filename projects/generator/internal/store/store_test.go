package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// stores opens the store on SQLite and on a fresh PostgreSQL database.
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	open := func(name, url string) {
		db, err := database.Open(ctx, url, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := New(ctx, db)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Migrating twice changes nothing.
		if _, err := New(ctx, db); err != nil {
			t.Fatalf("%s: second migrate: %v", name, err)
		}
		out[name] = s
	}
	open("sqlite", "sqlite://"+filepath.Join(t.TempDir(), "g.db"))
	open("postgres", testutil.FreshPostgres(t))
	return out
}

func TestStoreVersions(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s.now = func() time.Time { tick = tick.Add(time.Second); return tick }

			p, v, err := s.Create(ctx, Pipeline{Name: "web", Team: "team-a", CreatedBy: "alice"},
				Version{Config: "a: 1\n", ConfigHash: "h1", Reason: "first"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Version != 1 || v.Version != 1 || v.PipelineID != p.ID || v.CreatedBy != "alice" {
				t.Fatalf("created %+v %+v", p, v)
			}
			if _, _, err := s.Create(ctx, Pipeline{Name: "web", Team: "team-a", CreatedBy: "bob"}, Version{Config: "x"}); !errors.Is(err, ErrDuplicateName) {
				t.Fatalf("duplicate name: err = %v", err)
			}
			if _, _, err := s.Create(ctx, Pipeline{Name: "web", Team: "team-b", CreatedBy: "bob"}, Version{Config: "x"}); err != nil {
				t.Fatalf("same name in another team: %v", err)
			}

			desc := "tuned"
			p2, v2, err := s.AddVersion(ctx, p.ID, 1, Update{Description: &desc}, Version{Config: "a: 2\n", ConfigHash: "h2", CreatedBy: "bob", Reason: "k=10"})
			if err != nil {
				t.Fatal(err)
			}
			if p2.Version != 2 || v2.Version != 2 || p2.Team != "team-a" || p2.UpdatedBy != "bob" || p2.CreatedBy != "alice" || p2.Description != "tuned" {
				t.Fatalf("updated %+v %+v", p2, v2)
			}
			// A stale writer loses.
			if _, _, err := s.AddVersion(ctx, p.ID, 1, Update{}, Version{Config: "a: 3\n", CreatedBy: "carol"}); !errors.Is(err, database.ErrConflict) {
				t.Fatalf("stale update: err = %v", err)
			}
			if _, _, err := s.AddVersion(ctx, "pl-none", 0, Update{}, Version{Config: "x"}); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("missing pipeline: err = %v", err)
			}

			// Versions are immutable: version 1 still reads as written.
			got1, err := s.Version(ctx, p.ID, 1)
			if err != nil || got1.Config != "a: 1\n" || got1.Reason != "first" || got1.CreatedBy != "alice" {
				t.Fatalf("version 1 = %+v, %v", got1, err)
			}
			latest, err := s.Version(ctx, p.ID, 0)
			if err != nil || latest.Version != 2 || latest.Config != "a: 2\n" {
				t.Fatalf("latest = %+v, %v", latest, err)
			}
			if _, err := s.Version(ctx, p.ID, 9); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("version 9: err = %v", err)
			}

			vs, next, err := s.Versions(ctx, p.ID, 1, "")
			if err != nil || len(vs) != 1 || vs[0].Version != 2 || next == nil {
				t.Fatalf("versions page 1 = %+v next %v err %v", vs, next, err)
			}
			vs, next, err = s.Versions(ctx, p.ID, 1, *next)
			if err != nil || len(vs) != 1 || vs[0].Version != 1 || next != nil {
				t.Fatalf("versions page 2 = %+v next %v err %v", vs, next, err)
			}

			if err := s.Delete(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, p.ID); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("after delete: err = %v", err)
			}
			if _, err := s.Version(ctx, p.ID, 1); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("versions after delete: err = %v", err)
			}
			if err := s.Delete(ctx, p.ID); !errors.Is(err, database.ErrNotFound) {
				t.Fatalf("second delete: err = %v", err)
			}
		})
	}
}

func TestStoreListPagesAndTeams(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			s.now = func() time.Time { return tick } // same timestamp: the id breaks ties
			for i := range 7 {
				team := "a"
				if i%2 == 1 {
					team = "b"
				}
				if _, _, err := s.Create(ctx, Pipeline{Name: fmt.Sprintf("p%d", i), Team: team, CreatedBy: "u"}, Version{Config: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			seen := map[string]bool{}
			cursor := ""
			for range 10 {
				page, next, err := s.List(ctx, nil, 3, cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range page {
					if seen[p.ID] {
						t.Fatalf("%s listed twice", p.ID)
					}
					seen[p.ID] = true
				}
				if next == nil {
					break
				}
				cursor = *next
			}
			if len(seen) != 7 {
				t.Fatalf("listed %d pipelines, want 7", len(seen))
			}
			onlyA, _, err := s.List(ctx, []string{"a"}, 50, "")
			if err != nil || len(onlyA) != 4 {
				t.Fatalf("team a: %d pipelines, err %v", len(onlyA), err)
			}
			for _, p := range onlyA {
				if p.Team != "a" {
					t.Fatalf("team filter leaked %+v", p)
				}
			}
			none, _, err := s.List(ctx, []string{}, 50, "")
			if err != nil || len(none) != 0 {
				t.Fatalf("no teams: %v %v", none, err)
			}
			if _, _, err := s.List(ctx, nil, 5, "!!bad"); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("bad cursor: err = %v", err)
			}
		})
	}
}

// TestStoreConcurrentUpdates: of N writers starting from the same version,
// exactly one wins; versions stay dense.
func TestStoreConcurrentUpdates(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			p, _, err := s.Create(ctx, Pipeline{Name: "c", Team: "a", CreatedBy: "u"}, Version{Config: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, conflicts := 0, 0
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := s.AddVersion(ctx, p.ID, 1, Update{}, Version{Config: fmt.Sprintf("w%d", i), CreatedBy: "u"})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, database.ErrConflict):
						conflicts++
					default:
						t.Errorf("writer %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 || conflicts != 5 {
				t.Fatalf("wins %d conflicts %d, want 1 and 5", wins, conflicts)
			}
			got, err := s.Get(ctx, p.ID)
			if err != nil || got.Version != 2 {
				t.Fatalf("version = %d, %v", got.Version, err)
			}
		})
	}
}
