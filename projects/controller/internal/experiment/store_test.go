package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/pkg/usage"
)

// eachStore runs fn against a migrated store per backend: embedded SQLite
// and the local PostgreSQL (a fresh database per test; skipped locally when
// absent, required in CI).
func eachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	ctx := context.Background()
	run := func(t *testing.T, url, dir string) {
		db, err := database.Open(ctx, url, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := NewStore(db)
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		fn(t, s)
	}
	t.Run("sqlite", func(t *testing.T) { run(t, "", t.TempDir()) })
	t.Run("postgres", func(t *testing.T) { run(t, testutil.FreshPostgres(t), "") })
}

func mustSpec(t *testing.T, path string) Experiment {
	t.Helper()
	e, err := Parse(readExample(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return *e
}

// readExample reads a spec file as the CLI sends it: with the dashboards
// and rule files its spec.queries.sources name read into exprs.
func readExample(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return data // Parse reports it
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return data
	}
	out, err := usage.ResolveQuerySources(js, filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isConflict(err error) bool {
	var p *problem.Error
	return errors.As(err, &p) && p.Status == 409
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	spec := mustSpec(t, "testdata/full.good.yaml")
	eachStore(t, func(t *testing.T, s *Store) {
		r := &Record{Team: "payments", Spec: spec}
		if err := s.Create(ctx, r, "alice", "first try"); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != Draft || got.Version != 1 || got.Team != "payments" || got.CreatedBy != "alice" ||
			got.Spec.Spec.Rollout.Pause.Std() != 30*time.Second || *got.Spec.Spec.Criteria.MinSeriesReductionPct != 30 ||
			got.Results != nil {
			t.Fatalf("round trip: %+v", got)
		}

		// A second live experiment of the same name would share its streams.
		dup := &Record{Team: "other", Spec: spec}
		if err := s.Create(ctx, dup, "bob", ""); !isConflict(err) || !errors.Is(err, database.ErrConflict) {
			t.Fatalf("duplicate live name: %v", err)
		}

		// A stale write is refused and writes nothing.
		if _, err := s.Apply(ctx, r.ID, 7, EvStart, "alice", "", nil); !errors.Is(err, database.ErrConflict) {
			t.Fatalf("stale apply: %v", err)
		}
		// An illegal event is refused and writes nothing.
		if _, err := s.Apply(ctx, r.ID, 1, EvElapsed, "runner", "", func(r *Record) { r.Results = &Results{Outcome: OutcomeFailed} }); !isConflict(err) || !errors.Is(err, ErrIllegalTransition) {
			t.Fatalf("illegal apply: %v", err)
		}
		if cur, _ := s.Get(ctx, r.ID); cur.Version != 1 || cur.State != Draft || cur.Results != nil {
			t.Fatalf("a refused write changed the row: %+v", cur)
		}
		if log, _ := s.Transitions(ctx, r.ID, 0, 10); len(log) != 1 || log[0].Event != EvCreate || log[0].Reason != "first try" {
			t.Fatalf("log after refusals: %+v", log)
		}

		// Legal steps bump the version and log who, what and why.
		cur, err := s.Apply(ctx, r.ID, 1, EvStart, "alice", "go", nil)
		if err != nil || cur.State != Pending || cur.Version != 2 {
			t.Fatalf("start: %+v %v", cur, err)
		}
		cur.Progress.Agents = []AgentProgress{{ID: "a1", PreviousConfigHash: "h0"}}
		if err := s.Save(ctx, cur); err != nil || cur.Version != 3 {
			t.Fatalf("save progress: %v (version %d)", err, cur.Version)
		}
		stale := *cur
		stale.Version = 2
		if err := s.Save(ctx, &stale); !errors.Is(err, database.ErrConflict) {
			t.Fatalf("stale save: %v", err)
		}
		changed := *cur
		changed.Spec.Metadata.Description = "edited"
		if err := s.Save(ctx, &changed); !isConflict(err) {
			t.Fatalf("editing a started spec: %v", err)
		}
		for _, ev := range []Event{EvDeploy, EvDeployed, EvWarmedUp, EvElapsed} {
			if cur, err = s.Apply(ctx, r.ID, cur.Version, ev, "runner", string(ev), nil); err != nil {
				t.Fatalf("%s: %v", ev, err)
			}
		}
		res := &Results{Outcome: OutcomeSucceeded, Winner: "topk", Reasons: []string{"ok"}, Candidates: []CandidateResult{{Name: "topk", Outcome: OutcomePassed}}}
		cur, err = s.Apply(ctx, r.ID, cur.Version, EvPass, "runner", "verdict", func(r *Record) { r.Results = res })
		if err != nil || cur.State != Succeeded {
			t.Fatalf("pass: %+v %v", cur, err)
		}
		got, _ = s.Get(ctx, r.ID)
		if got.Results == nil || got.Results.Winner != "topk" || len(got.Progress.Agents) != 1 || got.Progress.Agents[0].PreviousConfigHash != "h0" {
			t.Fatalf("results/progress not stored: %+v", got)
		}
		// Still live while it waits for approval; cancelling frees the name.
		if err := s.Create(ctx, &Record{Team: "other", Spec: spec}, "bob", ""); !isConflict(err) {
			t.Fatalf("name taken by a succeeded experiment: %v", err)
		}
		cur, err = s.Apply(ctx, r.ID, cur.Version, EvCancel, "alice", "not now", nil)
		if err != nil || cur.State != Cancelled {
			t.Fatalf("cancel: %+v %v", cur, err)
		}
		if _, err := s.Apply(ctx, r.ID, cur.Version, EvStart, "alice", "", nil); !errors.Is(err, ErrIllegalTransition) {
			t.Fatalf("a final state left: %v", err)
		}
		// Its agent may still run its config: live until restored.
		if err := s.Create(ctx, &Record{Team: "other", Spec: spec}, "bob", ""); !isConflict(err) {
			t.Fatalf("name of a stopped experiment with agents to give back: %v", err)
		}
		if live, _ := s.List(ctx, nil, true, "", 10); len(live) != 1 || live[0].ID != r.ID {
			t.Fatalf("a stopped experiment awaiting restore is not live: %+v", live)
		}
		cur.Progress.Restored = true
		if err := s.Save(ctx, cur); err != nil {
			t.Fatal(err)
		}
		again := &Record{Team: "other", Spec: spec, State: Pending}
		if err := s.Create(ctx, again, "bob", "rerun"); err != nil {
			t.Fatalf("the name of a finished experiment: %v", err)
		}

		log, err := s.Transitions(ctx, r.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []State{Draft, Pending, Deploying, Warming, Running, Analyzing, Succeeded, Cancelled}
		if len(log) != len(want) {
			t.Fatalf("log: %+v", log)
		}
		for i, tr := range log {
			if tr.Seq != int64(i+1) || tr.To != want[i] || (i > 0 && tr.From != want[i-1]) || tr.At.IsZero() {
				t.Errorf("log[%d] = %+v, want to %s", i, tr, want[i])
			}
		}
		if log[7].Actor != "alice" || log[7].Reason != "not now" || log[7].Event != EvCancel {
			t.Errorf("cancel entry: %+v", log[7])
		}
		if page, _ := s.Transitions(ctx, r.ID, 6, 100); len(page) != 2 || page[0].Seq != 7 {
			t.Errorf("log after seq 6: %+v", page)
		}
		if log2, _ := s.Transitions(ctx, again.ID, 0, 10); len(log2) != 2 || log2[1].Event != EvStart || log2[1].To != Pending {
			t.Errorf("created started: %+v", log2)
		}

		// Lists: team filter, live only, cursor.
		all, err := s.List(ctx, nil, false, "", 10)
		if err != nil || len(all) != 2 {
			t.Fatalf("list: %v %v", all, err)
		}
		if live, _ := s.List(ctx, nil, true, "", 10); len(live) != 1 || live[0].ID != again.ID {
			t.Errorf("live list: %+v", live)
		}
		if pay, _ := s.List(ctx, []string{"payments"}, false, "", 10); len(pay) != 1 || pay[0].ID != r.ID {
			t.Errorf("team list: %+v", pay)
		}
		if none, _ := s.List(ctx, []string{}, false, "", 10); len(none) != 0 {
			t.Errorf("no teams must see nothing: %+v", none)
		}
		if p1, _ := s.List(ctx, nil, false, "", 1); len(p1) != 1 {
			t.Errorf("page 1: %+v", p1)
		} else if p2, _ := s.List(ctx, nil, false, p1[0].ID, 10); len(p2) != 1 || p2[0].ID == p1[0].ID {
			t.Errorf("page 2: %+v", p2)
		}

		// Outbox: everything is unpublished until marked; the cursor only
		// moves forward and leaves the version alone.
		un, err := s.Unpublished(ctx, 100)
		if err != nil || len(un) != 10 {
			t.Fatalf("unpublished: %d %v", len(un), err)
		}
		if err := s.MarkPublished(ctx, r.ID, 8); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkPublished(ctx, r.ID, 3); err != nil {
			t.Fatal(err)
		}
		if un, _ := s.Unpublished(ctx, 100); len(un) != 2 || un[0].ExperimentID != again.ID {
			t.Errorf("unpublished after marking: %+v", un)
		}
		if got, _ := s.Get(ctx, r.ID); got.Version != cur.Version {
			t.Errorf("publishing changed the version: %d -> %d", cur.Version, got.Version)
		}

		// Only drafts are deleted, at their version.
		if err := s.Delete(ctx, again.ID, 2); !isConflict(err) {
			t.Errorf("delete a pending experiment: %v", err)
		}
		draft := &Record{Team: "payments", Spec: mustSpec(t, "testdata/minimal.good.json")}
		if err := s.Create(ctx, draft, "alice", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, draft.ID, 5); !errors.Is(err, database.ErrConflict) {
			t.Errorf("stale delete: %v", err)
		}
		if err := s.Delete(ctx, draft.ID, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, draft.ID); !errors.Is(err, database.ErrNotFound) {
			t.Errorf("deleted draft: %v", err)
		}
		if log, _ := s.Transitions(ctx, draft.ID, 0, 10); len(log) != 0 {
			t.Errorf("deleted draft's log: %+v", log)
		}
	})
}

// TestStoreConcurrentWriters: of writers that read the same version,
// exactly one wins; the others get a conflict and the log holds one entry
// per successful write.
func TestStoreConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	eachStore(t, func(t *testing.T, s *Store) {
		r := &Record{Team: "default", Spec: mustSpec(t, "testdata/minimal.good.json")}
		if err := s.Create(ctx, r, "alice", ""); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			won, lost int
			other     []error
		)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := EvStart
				if i%2 == 1 {
					ev = EvCancel
				}
				_, err := s.Apply(ctx, r.ID, 1, ev, "writer", "", nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, database.ErrConflict):
					lost++
				default:
					other = append(other, err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || lost != writers-1 || len(other) > 0 {
			t.Fatalf("won %d, lost %d, other errors %v", won, lost, other)
		}
		if log, _ := s.Transitions(ctx, r.ID, 0, 100); len(log) != 2 {
			t.Fatalf("log holds %d entries, want create + one write", len(log))
		}
	})
}
