package experiment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// fakeFleet is the fleet as the runner sees it: agents with labels, the
// desired config per agent (applied at once unless the agent is set to
// fail that config), and every push it recorded. It outlives runners, as
// the real fleet outlives a controller restart.
type fakeFleet struct {
	mu      sync.Mutex
	labels  map[string]map[string]string
	desired map[string]string   // agent -> hash
	known   map[string]bool     // hashes ever pushed (a rollback by hash needs one)
	pushes  map[string][]string // agent -> hashes pushed, in order
	refuse  map[string]string   // agent -> hash it fails to run healthily
}

func newFleet(agents map[string]map[string]string, initial string) *fakeFleet {
	f := &fakeFleet{labels: agents, desired: map[string]string{}, known: map[string]bool{initial: true},
		pushes: map[string][]string{}, refuse: map[string]string{}}
	for id := range agents {
		f.desired[id] = initial
	}
	return f
}

func (f *fakeFleet) Select(_ context.Context, team string, sel map[string]string) ([]Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Agent
	for _, id := range slices.Sorted(maps.Keys(f.labels)) {
		ok := true
		for k, v := range sel {
			if f.labels[id][k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, Agent{ID: id, ConfigHash: f.desired[id]})
		}
	}
	return out, nil
}

func (f *fakeFleet) Set(_ context.Context, id string, c DesiredConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Config == nil && !f.known[c.ConfigHash] {
		return fmt.Errorf("no config with hash %s in %s's history", c.ConfigHash, id)
	}
	if c.Config != nil && fleet.Hash(c.Config) != c.ConfigHash {
		return fmt.Errorf("hash mismatch")
	}
	if f.desired[id] == c.ConfigHash {
		return nil // set-to-value
	}
	f.desired[id] = c.ConfigHash
	f.known[c.ConfigHash] = true
	f.pushes[id] = append(f.pushes[id], c.ConfigHash)
	return nil
}

func (f *fakeFleet) Running(_ context.Context, id, hash string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[id] == hash {
		return false, nil
	}
	return f.desired[id] == hash, nil
}

func (f *fakeFleet) pushLog() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for k, v := range f.pushes {
		out[k] = slices.Clone(v)
	}
	return out
}

// fakeConfigs builds distinct, deterministic configs and counts the
// promotions it stored (idempotent per experiment, as the interface asks).
type fakeConfigs struct {
	mu       sync.Mutex
	promoted map[string]int
	err      error
}

func (c *fakeConfigs) ExperimentConfig(_ context.Context, r *Record) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	return []byte("experiment " + r.Name() + "\n"), nil
}

func (c *fakeConfigs) PromotionConfig(_ context.Context, r *Record, winner string) (Promotion, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.promoted == nil {
		c.promoted = map[string]int{}
	}
	c.promoted[r.ID+"/"+winner] = 1
	return Promotion{Config: []byte("production " + winner + " of " + r.Name() + "\n"), PipelineID: "pl-" + r.ID, PipelineVersion: 1}, nil
}

// fakeAnalyzer answers figures per candidate name.
type fakeAnalyzer struct {
	figs  map[string]Figures
	facts DataFacts
	calls int
	// watchedIn records the state of the experiment at each Watch.
	watchedIn []State
}

func (a *fakeAnalyzer) Watch(_ context.Context, r *Record) error {
	a.watchedIn = append(a.watchedIn, r.State)
	return nil
}

func (a *fakeAnalyzer) Analyze(_ context.Context, r *Record, from, to time.Time) (DataFacts, []Figures, error) {
	a.calls++
	if from.IsZero() || !to.After(from) {
		return DataFacts{}, nil, fmt.Errorf("bad window %v..%v", from, to)
	}
	var out []Figures
	for _, c := range r.Spec.Spec.Candidates {
		if f, ok := a.figs[c.Name]; ok {
			out = append(out, f)
		}
	}
	return a.facts, out, nil
}

type fakePublisher struct {
	mu  sync.Mutex
	got []Transition
}

func (p *fakePublisher) Publish(_ context.Context, t Transition) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, t)
	return nil
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

const runnerSpec = `apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: NAME}
spec:
  target: {selector: {env: dev}}
  baseline: {template: baseline}
  candidates:
    - {name: topk, template: topk, set: {k: "10", critical: "nginx|postgres"}}
    - {name: drop, strategies: [{type: priority_tiers, tiers: {low: "postgres"}}]}
  warmup: 30s
  duration: 2m
  critical: ['process.executable.name=~"nginx|postgres"']
  criteria: {min_series_reduction_pct: 30, min_critical_retention_pct: 100}
  on_success: ONSUCCESS
  ROLLOUT
`

func specFor(t *testing.T, name, onSuccess, rollout string) Experiment {
	t.Helper()
	y := strings.NewReplacer("NAME", name, "ONSUCCESS", onSuccess, "ROLLOUT", rollout).Replace(runnerSpec)
	e, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return *e
}

type world struct {
	store    *Store
	fleet    *fakeFleet
	configs  *fakeConfigs
	analyzer *fakeAnalyzer
	pub      *fakePublisher
	clock    *fakeClock
}

func newWorld(t *testing.T, agents int) *world {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := NewStore(db)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]string{"other": {"env": "prod"}}
	for i := range agents {
		labels[fmt.Sprintf("agent-%d", i+1)] = map[string]string{"env": "dev", "team": "default"}
	}
	ok := Figures{SeriesReduction: f64(0.6), CriticalRetention: f64(1), CriticalBaseline: 10, CriticalRetained: 10, Windows: 12}
	topk, drop := ok, ok
	topk.Candidate = "topk"
	drop.Candidate, drop.CriticalRetention, drop.CriticalRetained = "drop", f64(0.5), 5
	return &world{store: s, fleet: newFleet(labels, fleet.Hash([]byte("production v1\n"))), configs: &fakeConfigs{},
		analyzer: &fakeAnalyzer{figs: map[string]Figures{"topk": topk, "drop": drop}},
		pub:      &fakePublisher{}, clock: &fakeClock{t: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)}}
}

func (w *world) runner(t *testing.T, crash func(string) error) *Runner {
	t.Helper()
	r, err := NewRunner(Settings{Store: w.store, Deployer: w.fleet, Configs: w.configs, Analyzer: w.analyzer,
		Publisher: w.pub, Clock: w.clock, crash: crash, ApplyTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *world) create(t *testing.T, spec Experiment) *Record {
	t.Helper()
	rec := &Record{Team: "default", Spec: spec, State: Pending}
	if err := w.store.Create(context.Background(), rec, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	return rec
}

// drive steps id until stop says so (or it is final and settled), moving
// the clock 10 s whenever a step changes nothing. A step killed by the
// crash hook is followed by a new Runner over the same store, as after a
// controller restart.
func (w *world) drive(t *testing.T, id string, crash func(string) error, stop func(*Record) bool) *Record {
	t.Helper()
	ctx := context.Background()
	r := w.runner(t, crash)
	for range 500 {
		before, err := w.store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if stop(before) {
			return before
		}
		if _, err := r.Step(ctx, id); err != nil {
			if !errors.Is(err, errKilled) {
				t.Fatalf("step in %s: %v", before.State, err)
			}
			r = w.runner(t, crash)
			continue
		}
		after, _ := w.store.Get(ctx, id)
		if after.Version == before.Version {
			w.clock.t = w.clock.t.Add(10 * time.Second)
		}
	}
	t.Fatal("the experiment did not settle in 500 steps")
	return nil
}

// settled: a final state whose agents are given back (or promoted), and
// every transition published.
func (w *world) settled(rec *Record) bool {
	if !rec.State.Terminal() || (rec.State != Promoted && len(rec.Progress.Agents) > 0 && !rec.Progress.Restored) {
		return false
	}
	un, _ := w.store.Unpublished(context.Background(), 10)
	return len(un) == 0
}

func until(s State) func(*Record) bool { return func(r *Record) bool { return r.State == s } }

type outcome struct {
	state     State
	winner    string
	pushes    map[string][]string
	published []string
	promoted  int
	hashes    map[string]string
}

func (w *world) outcome(t *testing.T, rec *Record) outcome {
	t.Helper()
	o := outcome{state: rec.State, pushes: w.fleet.pushLog(), promoted: len(w.configs.promoted), hashes: map[string]string{}}
	if rec.Results != nil {
		o.winner = rec.Results.Winner
	}
	for _, p := range w.pub.got {
		o.published = append(o.published, fmt.Sprintf("%d:%s>%s", p.Seq, p.From, p.To))
	}
	log, _ := w.store.Transitions(context.Background(), rec.ID, 0, 100)
	if len(log) != len(o.published) {
		t.Errorf("%d transitions logged, %d published", len(log), len(o.published))
	}
	for id, h := range w.fleet.desired {
		o.hashes[id] = h
	}
	return o
}

// TestRunnerKilledAtEveryBoundary runs a staged promotion uninterrupted,
// then once per step boundary killed there and resumed by a new runner:
// every run reaches the same final state, winner, pushes (no double
// deployment, no double promotion) and published events.
func TestRunnerKilledAtEveryBoundary(t *testing.T) {
	spec := func(t *testing.T) Experiment {
		return specFor(t, "kill", OnSuccessPromote, "rollout: {strategy: staged, steps: [50, 100], pause: 30s}")
	}
	w := newWorld(t, 2)
	rec := w.create(t, spec(t))
	var points []string
	final := w.drive(t, rec.ID, func(p string) error { points = append(points, p); return nil }, w.settled)
	want := w.outcome(t, final)
	if want.state != Promoted || want.winner != "topk" || want.promoted != 1 {
		t.Fatalf("uninterrupted run: %+v", want)
	}
	prod := fleet.Hash([]byte("production topk of kill\n"))
	exp := fleet.Hash([]byte("experiment kill\n"))
	prev := fleet.Hash([]byte("production v1\n"))
	for _, a := range []string{"agent-1", "agent-2"} {
		if got := want.pushes[a]; !slices.Equal(got, []string{exp, prev, prod}) {
			t.Fatalf("%s pushes %v, want experiment, restore, promotion", a, got)
		}
	}
	if want.pushes["other"] != nil {
		t.Fatalf("an unselected agent got pushes: %v", want.pushes["other"])
	}
	if len(points) < 8 {
		t.Fatalf("only %d boundaries: %v", len(points), points)
	}
	for _, p := range []string{"after_deploy", "after_restore", "after_promote_deploy", "before_publish"} {
		if !slices.Contains(points, p) {
			t.Fatalf("no %s boundary in %v", p, points)
		}
	}

	for k := range points {
		t.Run(fmt.Sprintf("killed at %d %s", k, points[k]), func(t *testing.T) {
			w := newWorld(t, 2)
			rec := w.create(t, spec(t))
			n := 0
			crash := func(string) error {
				n++
				if n == k+1 {
					return errKilled
				}
				return nil
			}
			final := w.drive(t, rec.ID, crash, w.settled)
			got := w.outcome(t, final)
			if got.state != want.state || got.winner != want.winner || got.promoted != want.promoted ||
				!maps.EqualFunc(got.pushes, want.pushes, slices.Equal[[]string]) ||
				!slices.Equal(got.published, want.published) || !maps.Equal(got.hashes, want.hashes) {
				t.Fatalf("killed run differs:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestRunnerOutcomes(t *testing.T) {
	ctx := context.Background()
	prev := fleet.Hash([]byte("production v1\n"))

	t.Run("a failing candidate alone fails and restores the agents", func(t *testing.T) {
		w := newWorld(t, 2)
		spec := specFor(t, "fails", OnSuccessPromote, "")
		spec.Spec.Candidates = spec.Spec.Candidates[1:] // only drop
		rec := w.create(t, spec)
		final := w.drive(t, rec.ID, nil, w.settled)
		if final.State != Failed || !slices.Equal(final.Results.Candidates[0].Failed, []string{CritCriticalRetention}) {
			t.Fatalf("%s %+v", final.State, final.Results)
		}
		for _, a := range []string{"agent-1", "agent-2"} {
			if w.fleet.desired[a] != prev {
				t.Errorf("%s runs %s after a failed experiment, want its previous config", a, w.fleet.desired[a])
			}
		}
		if !final.Results.From.Equal(final.Progress.WindowFrom) || final.Results.To.Sub(final.Results.From) < 2*time.Minute {
			t.Errorf("analysis window %v..%v", final.Results.From, final.Results.To)
		}
	})

	t.Run("no agent matches: inconclusive at once", func(t *testing.T) {
		w := newWorld(t, 2)
		spec := specFor(t, "nobody", OnSuccessPromote, "")
		spec.Spec.Target.Selector = map[string]string{"env": "staging"}
		// Without agents no config is built: an unreachable generator
		// must not hold the verdict.
		w.configs.err = problem.Unavailable(time.Second, "generator unavailable")
		rec := w.create(t, spec)
		start := w.clock.t
		final := w.drive(t, rec.ID, nil, w.settled)
		if final.State != Inconclusive || !strings.Contains(strings.Join(final.Results.Reasons, ";"), "selector matched none") {
			t.Fatalf("%s %+v", final.State, final.Results)
		}
		if w.clock.t.Sub(start) > 0 || len(w.fleet.pushLog()) != 0 {
			t.Errorf("waited %v and pushed %v for no agent", w.clock.t.Sub(start), w.fleet.pushLog())
		}
	})

	t.Run("on_success wait holds in succeeded until approved", func(t *testing.T) {
		w := newWorld(t, 1)
		rec := w.create(t, specFor(t, "wait", OnSuccessWait, ""))
		got := w.drive(t, rec.ID, nil, until(Succeeded))
		r := w.runner(t, nil)
		for range 5 {
			w.clock.t = w.clock.t.Add(time.Hour)
			if st, err := r.Step(ctx, rec.ID); err != nil || st != Succeeded {
				t.Fatalf("waiting: %s %v", st, err)
			}
		}
		if _, err := w.store.Apply(ctx, rec.ID, got.Version, EvPromote, "bob", "approved", nil); err != nil {
			t.Fatal(err)
		}
		final := w.drive(t, rec.ID, nil, w.settled)
		if final.State != Promoted || w.fleet.desired["agent-1"] != fleet.Hash([]byte("production topk of wait\n")) {
			t.Fatalf("%s, agent runs %s", final.State, w.fleet.desired["agent-1"])
		}
	})

	t.Run("a stop while running gives the agents back", func(t *testing.T) {
		w := newWorld(t, 2)
		rec := w.create(t, specFor(t, "stopped", OnSuccessPromote, ""))
		running := w.drive(t, rec.ID, nil, until(Running))
		if w.fleet.desired["agent-1"] == prev {
			t.Fatal("the experiment config is not deployed while running")
		}
		if _, err := w.store.Apply(ctx, rec.ID, running.Version, EvCancel, "alice", "enough", nil); err != nil {
			t.Fatal(err)
		}
		final := w.drive(t, rec.ID, nil, w.settled)
		if final.State != Cancelled || !final.Progress.Restored || w.fleet.desired["agent-1"] != prev || w.fleet.desired["agent-2"] != prev {
			t.Fatalf("%s restored=%v, agents %v", final.State, final.Progress.Restored, w.fleet.desired)
		}
		if w.analyzer.calls != 0 {
			t.Errorf("a cancelled experiment was analyzed")
		}
	})

	t.Run("a second experiment on the same agents waits", func(t *testing.T) {
		w := newWorld(t, 1)
		first := w.create(t, specFor(t, "first", OnSuccessWait, ""))
		w.drive(t, first.ID, nil, until(Running))
		second := w.create(t, specFor(t, "second", OnSuccessWait, ""))
		r := w.runner(t, nil)
		if st, err := r.Step(ctx, second.ID); err != nil || st != Pending {
			t.Fatalf("second: %s %v", st, err)
		}
		got, _ := w.store.Get(ctx, second.ID)
		if !strings.Contains(got.Progress.Note, "agent-1 (experiment first)") {
			t.Errorf("note %q", got.Progress.Note)
		}
		w.drive(t, first.ID, nil, until(Succeeded))
		if st, err := r.Step(ctx, second.ID); err != nil || st != Deploying {
			t.Fatalf("second after the first ended: %s %v", st, err)
		}
	})

	t.Run("a stopped experiment holds its agents and name until they are given back", func(t *testing.T) {
		w := newWorld(t, 1)
		first := w.create(t, specFor(t, "first", OnSuccessWait, ""))
		running := w.drive(t, first.ID, nil, until(Running))
		if _, err := w.store.Apply(ctx, first.ID, running.Version, EvCancel, "alice", "stop", nil); err != nil {
			t.Fatal(err)
		}
		if err := w.store.Create(ctx, &Record{Team: "default", Spec: specFor(t, "first", OnSuccessWait, "")}, "bob", ""); !isConflict(err) {
			t.Fatalf("the name of an experiment whose agents are not back yet: %v", err)
		}
		second := w.create(t, specFor(t, "second", OnSuccessWait, ""))
		r := w.runner(t, nil)
		if st, err := r.Step(ctx, second.ID); err != nil || st != Pending {
			t.Fatalf("second beside a stopped, unrestored first: %s %v", st, err)
		}
		// One reconcile pass gives first's agent back (and may or may not
		// reach second first); the next deploys second.
		for range 3 {
			if _, err := r.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := w.store.Get(ctx, second.ID)
		exp2 := fleet.Hash([]byte("experiment second\n"))
		if got.State != Warming || w.fleet.desired["agent-1"] != exp2 {
			t.Fatalf("second is %s and agent-1 runs %s", got.State, w.fleet.desired["agent-1"])
		}
		if live, _ := w.store.List(ctx, nil, true, "", 10); len(live) != 1 || live[0].ID != second.ID {
			t.Fatalf("live experiments: %d", len(live))
		}
	})

	t.Run("a promotion waits for agents another experiment holds", func(t *testing.T) {
		w := newWorld(t, 1)
		first := w.create(t, specFor(t, "first", OnSuccessWait, ""))
		done := w.drive(t, first.ID, nil, until(Succeeded))
		second := w.create(t, specFor(t, "second", OnSuccessWait, ""))
		w.drive(t, second.ID, nil, until(Running))
		if _, err := w.store.Apply(ctx, first.ID, done.Version, EvPromote, "bob", "approved", nil); err != nil {
			t.Fatal(err)
		}
		r := w.runner(t, nil)
		if st, err := r.Step(ctx, first.ID); err != nil || st != Promoting {
			t.Fatalf("first: %s %v", st, err)
		}
		got, _ := w.store.Get(ctx, first.ID)
		if !strings.Contains(got.Progress.Note, "agent-1 (experiment second)") || w.fleet.desired["agent-1"] != fleet.Hash([]byte("experiment second\n")) {
			t.Fatalf("note %q, agent-1 runs %s", got.Progress.Note, w.fleet.desired["agent-1"])
		}
		w.drive(t, second.ID, nil, until(Succeeded))
		final := w.drive(t, first.ID, nil, w.settled)
		if final.State != Promoted || w.fleet.desired["agent-1"] != fleet.Hash([]byte("production topk of first\n")) {
			t.Fatalf("%s, agent-1 runs %s", final.State, w.fleet.desired["agent-1"])
		}
	})

	t.Run("a staged promotion whose second step fails rolls every agent back", func(t *testing.T) {
		w := newWorld(t, 2)
		rec := w.create(t, specFor(t, "staged", OnSuccessPromote, "rollout: {strategy: staged, steps: [50, 100], pause: 30s}"))
		prod := fleet.Hash([]byte("production topk of staged\n"))
		w.fleet.refuse["agent-2"] = prod // agent-2 is only in the second step
		final := w.drive(t, rec.ID, nil, w.settled)
		if final.State != RolledBack {
			t.Fatalf("state %s", final.State)
		}
		log, _ := w.store.Transitions(ctx, rec.ID, 0, 100)
		if last := log[len(log)-1]; last.Event != EvRollback || !strings.Contains(last.Reason, "step 2 (100%)") {
			t.Errorf("last transition %+v", last)
		}
		for _, a := range []string{"agent-1", "agent-2"} {
			if w.fleet.desired[a] != prev {
				t.Errorf("%s runs %s after the rollback, want %s", a, w.fleet.desired[a], prev)
			}
		}
		if !slices.Contains(w.fleet.pushLog()["agent-1"], prod) {
			t.Error("the first step never reached agent-1")
		}
	})

	t.Run("a spec the generator refuses errors and deploys nothing", func(t *testing.T) {
		w := newWorld(t, 1)
		w.configs.err = problem.BadRequest("invalid pipeline request", problem.FieldError{Path: "target.baseline.pipeline", Message: "unknown pipeline prod-hosts"})
		rec := w.create(t, specFor(t, "broken", OnSuccessPromote, ""))
		final := w.drive(t, rec.ID, nil, w.settled)
		log, _ := w.store.Transitions(ctx, rec.ID, 0, 100)
		if final.State != Errored || !strings.Contains(log[len(log)-1].Reason, "unknown pipeline prod-hosts") || len(w.fleet.pushLog()) != 0 {
			t.Fatalf("%s, %+v, pushes %v", final.State, log[len(log)-1], w.fleet.pushLog())
		}
	})
}

// TestRunnerWatchesBeforeMeasuring: analytics records an aggregate's
// per-window values only once a comparison has named it, so the runner asks
// (Watcher) as warm-up ends, before the measured window opens; asking only
// at analysis found no window (an inconclusive verdict in --dev).
func TestRunnerWatchesBeforeMeasuring(t *testing.T) {
	w := newWorld(t, 1)
	rec := w.create(t, specFor(t, "watched", "wait", ""))
	w.drive(t, rec.ID, nil, until(Running))
	if got := w.analyzer.watchedIn; len(got) != 1 || got[0] != Warming {
		t.Fatalf("watched in states %v, want once, in warming", got)
	}
	if w.analyzer.calls != 0 {
		t.Fatalf("analyzed %d times before the window closed", w.analyzer.calls)
	}
	w.drive(t, rec.ID, nil, until(Succeeded)) // on_success: wait
	if len(w.analyzer.watchedIn) != 1 || w.analyzer.calls != 1 {
		t.Fatalf("watched %d times, analyzed %d times; want 1 and 1", len(w.analyzer.watchedIn), w.analyzer.calls)
	}
}
