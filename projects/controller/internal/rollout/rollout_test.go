package rollout

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// fakeFleet is the fleet as the runner sees it: agents with labels, the
// desired config per agent (run healthily at once unless the agent is set
// to refuse that config) and every push it recorded.
type fakeFleet struct {
	mu      sync.Mutex
	labels  map[string]map[string]string
	desired map[string]string   // agent -> hash
	known   map[string]bool     // hashes ever pushed (a rollback by hash needs one)
	pushes  map[string][]string // agent -> hashes pushed, in order
	refuse  map[string]string   // agent -> hash it never runs healthily
}

func (f *fakeFleet) Select(_ context.Context, _ string, sel map[string]string) ([]experiment.Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []experiment.Agent
	for _, id := range slices.Sorted(maps.Keys(f.labels)) {
		ok := true
		for k, v := range sel {
			ok = ok && f.labels[id][k] == v
		}
		if ok {
			out = append(out, experiment.Agent{ID: id, ConfigHash: f.desired[id]})
		}
	}
	return out, nil
}

func (f *fakeFleet) Set(_ context.Context, id string, c experiment.DesiredConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Config == nil && !f.known[c.ConfigHash] {
		return fmt.Errorf("no config with hash %s in %s's history", c.ConfigHash, id)
	}
	if f.desired[id] == c.ConfigHash {
		return nil
	}
	f.desired[id], f.known[c.ConfigHash] = c.ConfigHash, true
	f.pushes[id] = append(f.pushes[id], c.ConfigHash)
	return nil
}

func (f *fakeFleet) Running(_ context.Context, id, hash string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refuse[id] != hash && f.desired[id] == hash, nil
}

func (f *fakeFleet) pushLog() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for id, hs := range f.pushes {
		out[id] = slices.Clone(hs)
	}
	return out
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

type world struct {
	db       *database.Store
	store    *Store
	fleet    *fakeFleet
	clock    *fakeClock
	critical CriticalChecker
}

func newWorld(t *testing.T, agents int) *world {
	t.Helper()
	db, err := database.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewStore(db)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	prod := fleet.Hash([]byte("production v1\n"))
	f := &fakeFleet{labels: map[string]map[string]string{"other": {"env": "prod"}}, desired: map[string]string{},
		known: map[string]bool{prod: true}, pushes: map[string][]string{}, refuse: map[string]string{}}
	for i := range agents {
		id := fmt.Sprintf("agent-%d", i+1)
		f.labels[id], f.desired[id] = map[string]string{"env": "dev"}, prod
	}
	return &world{db: db, store: s, fleet: f, clock: &fakeClock{t: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)}}
}

func (w *world) runner(t *testing.T, held func(context.Context, string) (map[string]string, error)) *Runner {
	t.Helper()
	r, err := NewRunner(Settings{Store: w.store, Deployer: w.fleet, Clock: w.clock, ApplyTimeout: time.Minute,
		Logger: slog.New(slog.DiscardHandler), Held: held, Critical: w.critical})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// driveRollout steps a rollout until it holds no agents, moving the clock
// 10 s whenever a step changes nothing.
func (w *world) driveRollout(t *testing.T, id string) *Record {
	t.Helper()
	ctx := context.Background()
	r := w.runner(t, nil)
	for range 200 {
		before, err := w.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if before.State != Rolling && !before.HoldsAgents() {
			return before
		}
		if _, err := r.Step(ctx, id); err != nil {
			t.Fatalf("step: %v", err)
		}
		if after, _ := w.store.Get(ctx, id); after.Version == before.Version {
			w.clock.t = w.clock.t.Add(10 * time.Second)
		}
	}
	t.Fatal("the rollout did not settle in 200 steps")
	return nil
}

func (w *world) createRollout(t *testing.T, plan experiment.Rollout, config string) *Record {
	t.Helper()
	if errs := experiment.CheckPlan(&plan); len(errs) > 0 {
		t.Fatalf("plan %+v: %v", plan, errs)
	}
	ro := &Record{Team: "default", Selector: map[string]string{"env": "dev"}, Config: config,
		ConfigHash: fleet.Hash([]byte(config)), Plan: plan, PipelineID: "pl-1", PipelineVersion: 2}
	if err := w.store.Create(context.Background(), ro, "alice"); err != nil {
		t.Fatal(err)
	}
	return ro
}

func TestRollouts(t *testing.T) {
	prod := fleet.Hash([]byte("production v1\n"))
	next := "production v2\n"
	for _, tc := range []struct {
		name       string
		agents     int
		plan       experiment.Rollout
		refuse     string // agent that never runs the config healthily
		wantState  State
		wantReason string
		wantPushes map[string]string // agent -> hashes pushed, comma-separated
	}{
		{"all at once", 3, experiment.Rollout{Strategy: experiment.RolloutAll}, "", Succeeded, "3 agents run the config",
			map[string]string{"agent-1": "v2", "agent-2": "v2", "agent-3": "v2"}},
		{"staged through every step", 4, experiment.Rollout{Strategy: experiment.RolloutStaged, Steps: []int{25, 50, 100}, Pause: experiment.Duration(20 * time.Second)}, "",
			Succeeded, "4 agents run the config", map[string]string{"agent-1": "v2", "agent-2": "v2", "agent-3": "v2", "agent-4": "v2"}},
		{"second step fails: every agent rolls back", 2, experiment.Rollout{Strategy: experiment.RolloutStaged, Steps: []int{50, 100}, Pause: experiment.Duration(20 * time.Second)}, "agent-2",
			RolledBack, "step 2 (100%): agents did not run the config healthily",
			map[string]string{"agent-1": "v2,v1", "agent-2": "v2,v1"}},
		{"first step fails: the untouched agent gets nothing", 2, experiment.Rollout{Strategy: experiment.RolloutStaged, Steps: []int{50, 100}, Pause: experiment.Duration(20 * time.Second)}, "agent-1",
			RolledBack, "step 1 (50%)", map[string]string{"agent-1": "v2,v1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.agents)
			ro := w.createRollout(t, tc.plan, next)
			if tc.refuse != "" {
				w.fleet.refuse[tc.refuse] = ro.ConfigHash
			}
			final := w.driveRollout(t, ro.ID)
			if final.State != tc.wantState || !strings.Contains(final.Reason, tc.wantReason) {
				t.Fatalf("rollout %s (%s), want %s (%s)", final.State, final.Reason, tc.wantState, tc.wantReason)
			}
			names := map[string]string{prod: "v1", ro.ConfigHash: "v2"}
			got := map[string]string{}
			for id, hs := range w.fleet.pushLog() {
				var s []string
				for _, h := range hs {
					s = append(s, names[h])
				}
				got[id] = strings.Join(s, ",")
			}
			if len(got) != len(tc.wantPushes) {
				t.Fatalf("pushes %v, want %v", got, tc.wantPushes)
			}
			for id, want := range tc.wantPushes {
				if got[id] != want {
					t.Fatalf("pushes %v, want %v", got, tc.wantPushes)
				}
			}
			if tc.wantState == RolledBack {
				for id := range tc.wantPushes {
					if w.fleet.desired[id] != prod {
						t.Errorf("%s runs %s after the rollback", id, w.fleet.desired[id])
					}
				}
			}
		})
	}
}

// stubs the experiment runner needs but this test never reaches.
type noConfigs struct{}

func (noConfigs) ExperimentConfig(context.Context, *experiment.Record) ([]byte, error) {
	return []byte("experiment\n"), nil
}

func (noConfigs) PromotionConfig(context.Context, *experiment.Record, string) (experiment.Promotion, error) {
	return experiment.Promotion{}, fmt.Errorf("not promoted in this test")
}

type noAnalyzer struct{}

func (noAnalyzer) Analyze(context.Context, *experiment.Record, time.Time, time.Time) (experiment.DataFacts, []experiment.Figures, error) {
	return experiment.DataFacts{}, nil, nil
}

type noPublisher struct{}

func (noPublisher) Publish(context.Context, experiment.Transition) error { return nil }

const spec = `apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: blocked}
spec:
  target: {selector: {env: dev}}
  baseline: {template: baseline}
  candidates: [{name: topk, template: topk, set: {k: "10"}}]
  duration: 10s
  criteria: {min_series_reduction_pct: 30}
`

// An experiment does not start on agents a rollout holds, and a rollout
// waits for agents an experiment holds; an aborted rollout gives its
// agents back, and then the experiment starts.
func TestRolloutAndExperimentShareNoAgent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1)
	exps := experiment.NewStore(w.db)
	if err := exps.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var ro *Runner
	er, err := experiment.NewRunner(experiment.Settings{Store: exps, Deployer: w.fleet, Configs: noConfigs{}, Analyzer: noAnalyzer{},
		Publisher: noPublisher{}, Clock: w.clock, Logger: slog.New(slog.DiscardHandler),
		Held: func(ctx context.Context, self string) (map[string]string, error) { return ro.Holding(ctx, self) }})
	if err != nil {
		t.Fatal(err)
	}
	ro = w.runner(t, er.HeldAgents)

	// A live experiment holds agent-1 first: the rollout waits.
	e, err := experiment.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	first := &experiment.Record{Team: "default", Spec: *e, State: experiment.Pending}
	if err := exps.Create(ctx, first, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := er.Step(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	r1 := w.createRollout(t, experiment.Rollout{Strategy: experiment.RolloutAll}, "production v2\n")
	if _, err := ro.Step(ctx, r1.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.store.Get(ctx, r1.ID); got.Selected || !strings.Contains(got.Progress.Note, "agent-1 (experiment blocked)") {
		t.Fatalf("rollout selected %v, note %q: should wait for the experiment's agent", got.Selected, got.Progress.Note)
	}
	if _, err := exps.Apply(ctx, first.ID, 0, experiment.EvCancel, "alice", "make room", nil); err == nil {
		t.Fatal("a stale cancel was applied")
	}
	cur, _ := exps.Get(ctx, first.ID)
	if _, err := exps.Apply(ctx, first.ID, cur.Version, experiment.EvCancel, "alice", "make room", nil); err != nil {
		t.Fatal(err)
	}
	for range 3 { // the cancelled experiment gives agent-1 back, then the rollout selects it
		if _, err := er.Step(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Now the rollout holds agent-1 (it never runs the config healthily):
	// a new experiment waits for it.
	w.fleet.refuse["agent-1"] = r1.ConfigHash
	for range 2 {
		if _, err := ro.Step(ctx, r1.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.Metadata.Name = "second"
	second := &experiment.Record{Team: "default", Spec: *e, State: experiment.Pending}
	if err := exps.Create(ctx, second, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := er.Step(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := exps.Get(ctx, second.ID)
	if got.State != experiment.Pending || !strings.Contains(got.Progress.Note, "agent-1 (rollout "+r1.ID+")") {
		t.Fatalf("experiment %s, note %q: should wait for the rollout's agent", got.State, got.Progress.Note)
	}
	curRo, _ := w.store.Get(ctx, r1.ID)
	if _, err := w.store.Abort(ctx, r1.ID, curRo.Version, "alice", "changed my mind"); err != nil {
		t.Fatal(err)
	}
	final := w.driveRollout(t, r1.ID)
	if final.State != Aborted || !final.Progress.Restored || w.fleet.desired["agent-1"] != fleet.Hash([]byte("production v1\n")) {
		t.Fatalf("aborted rollout %+v left agent-1 on %s", final, w.fleet.desired["agent-1"])
	}
	if _, err := w.store.Abort(ctx, r1.ID, final.Version, "alice", "again"); err == nil {
		t.Fatal("a final rollout was aborted")
	}
	if _, err := er.Step(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := exps.Get(ctx, second.ID); got.State != experiment.Deploying {
		t.Fatalf("experiment %s after the rollout let go, want deploying", got.State)
	}
}
