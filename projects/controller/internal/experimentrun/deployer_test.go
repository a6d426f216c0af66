package experimentrun

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// recordingPusher stands in for the OpAMP server's socket (no agent is
// connected in these tests) and records what would have been sent.
type recordingPusher struct{ sent []*fleet.Deployment }

func (p *recordingPusher) Deploy(_ context.Context, d *fleet.Deployment) (bool, error) {
	p.sent = append(p.sent, d)
	return false, nil
}

func openDB(t *testing.T) *database.Store {
	t.Helper()
	db, err := database.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newRepo(t *testing.T) *fleet.Repo {
	t.Helper()
	return newRepoOn(t, openDB(t))
}

func newRepoOn(t *testing.T, db *database.Store) *fleet.Repo {
	t.Helper()
	repo := fleet.NewRepo(db)
	if err := repo.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return repo
}

func saveAgent(t *testing.T, repo *fleet.Repo, a fleet.Agent) {
	t.Helper()
	now := time.Now().UTC()
	a.FirstSeen, a.LastSeen = now, now
	if err := repo.SaveAgent(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
}

func TestDeployerSelect(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	d := &Deployer{Repo: repo, Pusher: &recordingPusher{}}
	saveAgent(t, repo, fleet.Agent{ID: "a1", Team: "web", Labels: map[string]string{"env": "dev", "zone": "1"}})
	saveAgent(t, repo, fleet.Agent{ID: "a2", Team: "web", Labels: map[string]string{"env": "prod"}})
	saveAgent(t, repo, fleet.Agent{ID: "a3", Team: "db", Labels: map[string]string{"env": "dev"}})
	saveAgent(t, repo, fleet.Agent{ID: "a4", Team: "web", Labels: map[string]string{"env": "dev"}})
	prod := []byte("receivers: {}\n")
	if err := d.Set(ctx, "a4", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod), Config: prod}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		team     string
		selector map[string]string
		want     string // id:hash,...
	}{
		{"label and team", "web", map[string]string{"env": "dev"}, "a1:,a4:" + fleet.Hash(prod)},
		{"two labels", "web", map[string]string{"env": "dev", "zone": "1"}, "a1:"},
		{"other team's agents are never selected", "db", map[string]string{"env": "dev"}, "a3:"},
		{"no match", "web", map[string]string{"env": "staging"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Select(ctx, tc.team, tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, a := range got {
				parts = append(parts, a.ID+":"+a.ConfigHash)
			}
			if s := strings.Join(parts, ","); s != tc.want {
				t.Fatalf("selected %q, want %q", s, tc.want)
			}
		})
	}
}

// Set is set-to-value: repeating it records and pushes nothing, and a
// config given by hash alone comes back from the agent's history.
func TestDeployerSetAndRestore(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	push := &recordingPusher{}
	d := &Deployer{Repo: repo, Pusher: push}
	saveAgent(t, repo, fleet.Agent{ID: "a1", Team: "web"})
	prod, exp, won := []byte("prod: 1\n"), []byte("experiment: 1\n"), []byte("winner: 1\n")
	steps := []struct {
		name     string
		c        experiment.DesiredConfig
		wantKind string // "" = nothing recorded
		wantErr  string
	}{
		{"production", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod), Config: prod, Reason: "prod"}, fleet.KindRaw, ""},
		{"experiment", experiment.DesiredConfig{ConfigHash: fleet.Hash(exp), Config: exp, Reason: "exp"}, fleet.KindRaw, ""},
		{"experiment again", experiment.DesiredConfig{ConfigHash: fleet.Hash(exp), Config: exp}, "", ""},
		{"restore by hash", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod), Reason: "end"}, fleet.KindRollback, ""},
		{"restore again", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod)}, "", ""},
		{"promotion of a stored version", experiment.DesiredConfig{ConfigHash: fleet.Hash(won), Config: won, PipelineID: "pl-1", PipelineVersion: 3}, fleet.KindPipeline, ""},
		{"restore production after the promotion", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod)}, fleet.KindRollback, ""},
		{"unknown hash", experiment.DesiredConfig{ConfigHash: fleet.Hash([]byte("never"))}, "", "no deployment with config hash"},
		{"bytes not matching the hash", experiment.DesiredConfig{ConfigHash: fleet.Hash(prod), Config: exp}, "", "does not match"},
	}
	for _, st := range steps {
		before := len(push.sent)
		err := d.Set(ctx, "a1", st.c)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: error %v, want one containing %q", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.wantKind == "" {
			if len(push.sent) != before {
				t.Fatalf("%s: pushed again", st.name)
			}
			continue
		}
		if len(push.sent) != before+1 {
			t.Fatalf("%s: %d pushes, want 1", st.name, len(push.sent)-before)
		}
		got := push.sent[len(push.sent)-1]
		if got.Kind != st.wantKind || got.ConfigHash != st.c.ConfigHash || got.CreatedBy != Actor {
			t.Fatalf("%s: pushed %s %s by %s", st.name, got.Kind, got.ConfigHash, got.CreatedBy)
		}
	}
	hist, err := repo.History(ctx, "a1", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: restore, promotion, restore, experiment, production.
	if len(hist) != 5 {
		t.Fatalf("history has %d deployments, want 5", len(hist))
	}
	if r := hist[2]; r.Kind != fleet.KindRollback || r.RollbackOf != hist[4].ID || r.Config != string(prod) {
		t.Fatalf("restore is %+v, want a rollback of %s with the production bytes", r, hist[4].ID)
	}
	if p := hist[1]; p.PipelineID != "pl-1" || p.PipelineVersion != 3 {
		t.Fatalf("promotion recorded as %s %s v%d, want pipeline pl-1 v3", p.Kind, p.PipelineID, p.PipelineVersion)
	}
	if r := hist[0]; r.RollbackOf != hist[2].ID || r.PipelineID != "" {
		t.Fatalf("second restore %+v should roll back to the newest production deployment, naming no pipeline", r)
	}
	des, err := repo.Desired(ctx, "a1")
	if err != nil || des.ID != hist[0].ID {
		t.Fatalf("desired %v %v, want the restore", des, err)
	}
}

func TestDeployerRunning(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t)
	d := &Deployer{Repo: repo, Pusher: &recordingPusher{}}
	yes, no := true, false
	const h = "abc"
	for _, tc := range []struct {
		name    string
		agent   fleet.Agent
		want    bool
		wantErr bool
	}{
		{"runs it healthily", fleet.Agent{Connected: true, Healthy: &yes, EffectiveConfigHash: h, RemoteConfigHash: h, RemoteConfigStatus: fleet.StatusApplied}, true, false},
		{"unhealthy", fleet.Agent{Connected: true, Healthy: &no, EffectiveConfigHash: h}, false, false},
		{"health unknown", fleet.Agent{Connected: true, EffectiveConfigHash: h}, false, false},
		{"disconnected", fleet.Agent{Healthy: &yes, EffectiveConfigHash: h}, false, false},
		{"still on the old config", fleet.Agent{Connected: true, Healthy: &yes, EffectiveConfigHash: "old", RemoteConfigHash: h, RemoteConfigStatus: fleet.StatusApplying}, false, false},
		{"refused it", fleet.Agent{Connected: true, Healthy: &yes, EffectiveConfigHash: "old", RemoteConfigHash: h, RemoteConfigStatus: fleet.StatusFailed, RemoteConfigError: "bad yaml"}, false, true},
		{"refused another config", fleet.Agent{Connected: true, Healthy: &yes, EffectiveConfigHash: h, RemoteConfigHash: "other", RemoteConfigStatus: fleet.StatusFailed}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.agent.ID, tc.agent.Team = "agent-"+strings.ReplaceAll(tc.name, " ", "-"), "web"
			saveAgent(t, repo, tc.agent)
			got, err := d.Running(ctx, tc.agent.ID, h)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Running = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrConfigFailed) || !strings.Contains(err.Error(), "bad yaml")) {
				t.Fatalf("error %v should wrap ErrConfigFailed with the agent's message", err)
			}
		})
	}
}
