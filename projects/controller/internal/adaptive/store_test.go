package adaptive

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// eachStore runs fn against a migrated store per backend: embedded SQLite
// and the local PostgreSQL (a fresh database per test; skipped locally when
// absent, required in CI). It returns the database too, for stores that
// share it (rollouts).
func eachStore(t *testing.T, fn func(t *testing.T, db *database.Store, s *Store)) {
	t.Helper()
	ctx := context.Background()
	run := func(t *testing.T, url, dir string) {
		db, err := database.Open(ctx, url, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := NewStore(db)
		for range 2 { // a second migrate changes nothing
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		fn(t, db, s)
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "", t.TempDir()) })
	t.Run("postgres", func(t *testing.T) { run(t, testutil.FreshPostgres(t), "") })
}

func specOf(action string) apiv1.AdaptivePolicySpec {
	return apiv1.AdaptivePolicySpec{Selector: map[string]string{"env": "prod"}, Stream: "prod", Action: action,
		Modes: []apiv1.AdaptiveMode{
			{Name: "conservative", PipelineID: "pl-cons", PipelineVersion: 1, UpTo: 10_000},
			{Name: "balanced", PipelineID: "pl-bal", PipelineVersion: 2, UpTo: 50_000},
			{Name: "aggressive", PipelineID: "pl-agg", PipelineVersion: 3},
		}}
}

func status(err error) int {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Status
	}
	if err != nil {
		return 500
	}
	return 200
}

func TestStorePolicies(t *testing.T) {
	eachStore(t, func(t *testing.T, _ *database.Store, s *Store) {
		ctx := context.Background()
		s.MaxPolicies = 2
		off, err := s.Create(ctx, "red", "otto", specOf(""))
		if err != nil {
			t.Fatal(err)
		}
		shadow, err := s.Create(ctx, "blue", "olga", specOf(apiv1.AdaptiveShadow))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "red", "otto", specOf("")); status(err) != 409 {
			t.Fatalf("third policy over max 2: %v, want 409", err)
		}
		got, err := s.Get(ctx, off.ID)
		if err != nil || got.Team != "red" || got.Version != 1 || got.Mode != "" || got.ModeSince != nil || len(got.Modes) != 3 {
			t.Fatalf("get: %+v, %v", got, err)
		}
		if _, err := s.Get(ctx, "ap-none"); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("get unknown: %v", err)
		}
		if red, _ := s.Find(ctx, []string{"red"}, "", 10); len(red) != 1 || red[0].ID != off.ID {
			t.Fatalf("find red: %+v", red)
		}
		if none, _ := s.Find(ctx, []string{}, "", 10); len(none) != 0 {
			t.Fatalf("find no team: %+v", none)
		}
		if en, _ := s.Enabled(ctx, "", 10); len(en) != 1 || en[0].ID != shadow.ID {
			t.Fatalf("enabled: %+v", en)
		}
		since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		if err := s.SetMode(ctx, shadow.ID, "balanced", since); err != nil {
			t.Fatal(err)
		}
		// An update keeping the mode's name keeps the mode; enabling the
		// off policy makes the loop see it; a stale version is 409.
		up, err := s.Update(ctx, off.ID, 1, specOf(apiv1.AdaptiveApply))
		if err != nil || up.Version != 2 {
			t.Fatalf("update: %+v, %v", up, err)
		}
		if _, err := s.Update(ctx, off.ID, 1, specOf("")); status(err) != 409 {
			t.Fatalf("stale update: %v, want 409", err)
		}
		if en, _ := s.Enabled(ctx, "", 10); len(en) != 2 {
			t.Fatalf("enabled after update: %d", len(en))
		}
		renamed := specOf(apiv1.AdaptiveShadow)
		renamed.Modes[1].Name = "middle"
		if up, err := s.Update(ctx, shadow.ID, 1, renamed); err != nil || up.Mode != "" || up.ModeSince != nil {
			t.Fatalf("update renaming the current mode: %+v, %v (the mode must reset)", up, err)
		}
		if err := s.SetMode(ctx, shadow.ID, "middle", since); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, shadow.ID); got.Mode != "middle" || got.ModeSince == nil || !got.ModeSince.Equal(since) {
			t.Fatalf("mode after SetMode: %q %v", got.Mode, got.ModeSince)
		}
		if err := s.Delete(ctx, off.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, off.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

// TestStoreDecisionsBounded: a policy keeps its last DecisionsKept
// decisions, newest first, pages by cursor, filters by policy and team,
// and deleting the policy deletes them.
func TestStoreDecisionsBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, _ *database.Store, s *Store) {
		ctx := context.Background()
		s.DecisionsKept = 3
		a, _ := s.Create(ctx, "red", "otto", specOf(apiv1.AdaptiveShadow))
		b, _ := s.Create(ctx, "blue", "olga", specOf(apiv1.AdaptiveShadow))
		t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		for i := range 5 {
			if _, err := s.Record(ctx, "red", &Decision{PolicyID: a.ID, Time: t0.Add(time.Duration(i) * time.Minute),
				ActiveSeries: float64(i), From: "conservative", To: "balanced", Shadow: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Record(ctx, "blue", &Decision{PolicyID: b.ID, Time: t0, ActiveSeries: 99}); err != nil {
			t.Fatal(err)
		}
		ds, err := s.Decisions(ctx, nil, a.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 3 || ds[0].ActiveSeries != 4 || ds[2].ActiveSeries != 2 || ds[0].Team != "red" || !ds[0].Shadow {
			t.Fatalf("kept decisions: %+v (want 4, 3, 2)", ds)
		}
		page, _ := s.Decisions(ctx, nil, a.ID, ds[0].ID, 1)
		if len(page) != 1 || page[0].ID != ds[1].ID {
			t.Fatalf("page after cursor: %+v", page)
		}
		if all, _ := s.Decisions(ctx, nil, "", "", 10); len(all) != 4 {
			t.Fatalf("all decisions: %d, want 4", len(all))
		}
		if blue, _ := s.Decisions(ctx, []string{"blue"}, "", "", 10); len(blue) != 1 || blue[0].PolicyID != b.ID {
			t.Fatalf("blue's decisions: %+v", blue)
		}
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.Decisions(ctx, nil, a.ID, "", 10); len(left) != 0 {
			t.Fatalf("decisions of a deleted policy: %d", len(left))
		}
	})
}

func TestCheckSpec(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*apiv1.AdaptivePolicySpec)
		paths []string
	}{
		{"valid", func(*apiv1.AdaptivePolicySpec) {}, nil},
		{"bad durations", func(s *apiv1.AdaptivePolicySpec) { s.MinDwell, s.OscillationWindow = "soon", "-1m" },
			[]string{"min_dwell", "oscillation_window"}},
		{"everything", func(s *apiv1.AdaptivePolicySpec) {
			s.Selector, s.Stream, s.Action, s.Modes = nil, "", "maybe", s.Modes[:1]
		}, []string{"selector", "stream", "action", "modes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := specOf(apiv1.AdaptiveApply)
			tt.edit(&spec)
			err := CheckSpec(spec)
			var p *problem.Error
			if tt.paths == nil {
				if err != nil {
					t.Fatalf("valid spec: %v", err)
				}
				return
			}
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("got %v, want 400", err)
			}
			got := map[string]bool{}
			for _, fe := range p.Errors {
				got[fe.Path] = true
			}
			for _, path := range tt.paths {
				if !got[path] {
					t.Errorf("no error at %s in %+v", path, p.Errors)
				}
			}
		})
	}
}
