package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// eachRepo runs fn against a migrated repository per backend: embedded
// SQLite and the local PostgreSQL (skipped locally when absent, required in CI).
func eachRepo(t *testing.T, fn func(t *testing.T, r *Repo)) {
	t.Helper()
	ctx := context.Background()
	run := func(t *testing.T, url, dir string) {
		store, err := database.Open(ctx, url, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		r := NewRepo(store)
		if err := r.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		fn(t, r)
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "", t.TempDir()) })
	t.Run("postgres", func(t *testing.T) { run(t, testutil.FreshPostgres(t), "") })
}

func TestRepo(t *testing.T) {
	ctx := context.Background()
	eachRepo(t, func(t *testing.T, r *Repo) {
		{
			t0 := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
			ok := true
			agents := []*Agent{
				{ID: "a1", Team: "default", Hostname: "h1", Labels: map[string]string{"env": "dev"}, Connected: true,
					FirstSeen: t0, LastSeen: t0, Healthy: &ok, HealthStatus: "running",
					EffectiveConfig: "receivers: {}\n", EffectiveConfigHash: Hash([]byte("receivers: {}\n"))},
				{ID: "a2", Team: "payments", Hostname: "h2", FirstSeen: t0, LastSeen: t0},
				{ID: "a3", Team: "default", Hostname: "h3", FirstSeen: t0, LastSeen: t0},
			}
			for _, a := range agents {
				if err := r.SaveAgent(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			// An update keeps first_seen.
			upd := *agents[0]
			upd.FirstSeen = t0.Add(time.Hour)
			upd.LastSeen = t0.Add(time.Hour)
			if err := r.SaveAgent(ctx, &upd); err != nil {
				t.Fatal(err)
			}
			got, err := r.GetAgent(ctx, "a1")
			if err != nil {
				t.Fatal(err)
			}
			if !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(t0.Add(time.Hour)) {
				t.Errorf("first/last seen = %v/%v", got.FirstSeen, got.LastSeen)
			}
			if got.Healthy == nil || !*got.Healthy || got.Labels["env"] != "dev" || !got.Connected {
				t.Errorf("agent round trip: %+v", got)
			}
			a2, _ := r.GetAgent(ctx, "a2")
			if a2.Healthy != nil || a2.HealthyUnknown == "" {
				t.Errorf("unreported health must be null with a reason: %+v", a2)
			}
			if _, err := r.GetAgent(ctx, "nope"); !errors.Is(err, database.ErrNotFound) {
				t.Errorf("missing agent: %v", err)
			}

			all, err := r.ListAgents(ctx, nil, "", 2)
			if err != nil || len(all) != 2 || all[0].ID != "a1" || all[1].ID != "a2" {
				t.Fatalf("page 1: %v %v", all, err)
			}
			rest, err := r.ListAgents(ctx, nil, all[1].ID, 2)
			if err != nil || len(rest) != 1 || rest[0].ID != "a3" {
				t.Fatalf("page 2: %v %v", rest, err)
			}
			def, _ := r.ListAgents(ctx, []string{"default"}, "", 10)
			if len(def) != 2 {
				t.Errorf("team filter: %d agents", len(def))
			}
			none, _ := r.ListAgents(ctx, []string{}, "", 10)
			if len(none) != 0 {
				t.Errorf("no teams must see nothing, got %d", len(none))
			}

			if err := r.DisconnectAll(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.GetAgent(ctx, "a1"); got.Connected {
				t.Error("DisconnectAll left a1 connected")
			}

			var ids []string
			for i, cfg := range []string{"v1", "v2", "v3"} {
				d := &Deployment{ID: NewDeploymentID(t0.Add(time.Duration(i) * time.Second)), AgentID: "a1",
					Kind: KindRaw, Config: cfg, ConfigHash: Hash([]byte(cfg)), CreatedBy: "alice", Reason: "test",
					CreatedAt: t0, Status: StatusPending, UpdatedAt: t0}
				if err := r.CreateDeployment(ctx, d); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, d.ID)
			}
			if err := r.CreateDeployment(ctx, &Deployment{ID: "dep-x", AgentID: "ghost", Kind: KindRaw,
				Config: "x", ConfigHash: "h", CreatedBy: "a", CreatedAt: t0, Status: StatusPending, UpdatedAt: t0}); !errors.Is(err, database.ErrNotFound) {
				t.Errorf("deployment to a missing agent: %v", err)
			}
			if got, _ := r.GetAgent(ctx, "a1"); got.DeploymentID != ids[2] {
				t.Errorf("desired deployment = %q, want %q", got.DeploymentID, ids[2])
			}
			if err := r.SetDeploymentStatus(ctx, ids[2], StatusFailed, "bad config", t0); err != nil {
				t.Fatal(err)
			}
			h, err := r.History(ctx, "a1", "", 2)
			if err != nil || len(h) != 2 || h[0].ID != ids[2] || h[1].ID != ids[1] {
				t.Fatalf("history page 1: %v %v", h, err)
			}
			if h[0].Status != StatusFailed || h[0].Error != "bad config" {
				t.Errorf("status not recorded: %+v", h[0])
			}
			h2, _ := r.History(ctx, "a1", h[1].ID, 2)
			if len(h2) != 1 || h2[0].ID != ids[0] {
				t.Fatalf("history page 2: %v", h2)
			}
			if d, err := r.GetDeployment(ctx, ids[0]); err != nil || d.Config != "v1" {
				t.Errorf("get deployment: %v %v", d, err)
			}
			if d, err := r.Desired(ctx, "a1"); err != nil || d == nil || d.ID != ids[2] || d.Config != "v3" {
				t.Errorf("desired: %+v %v", d, err)
			}
			if d, err := r.Desired(ctx, "a2"); err != nil || d != nil {
				t.Errorf("desired without pushes: %+v %v", d, err)
			}
			if err := r.Touch(ctx, "a3", t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if a, _ := r.GetAgent(ctx, "a3"); !a.Connected || !a.LastSeen.Equal(t0.Add(2*time.Hour)) || a.Hostname != "h3" {
				t.Errorf("touch: %+v", a)
			}
			if err := r.Touch(ctx, "ghost", t0); !errors.Is(err, database.ErrNotFound) {
				t.Errorf("touch missing agent: %v", err)
			}
		}
	})
}
