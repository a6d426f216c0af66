package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// driveRollout steps a rollout until it holds no agents, moving the clock
// 10 s whenever a step changes nothing.
func (w *world) driveRollout(t *testing.T, id string) *RolloutRecord {
	t.Helper()
	ctx := context.Background()
	r := w.runner(t, nil)
	for range 200 {
		before, err := w.store.GetRollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if before.State != RolloutRolling && !before.HoldsAgents() {
			return before
		}
		if _, err := r.StepRollout(ctx, id); err != nil {
			t.Fatalf("step: %v", err)
		}
		if after, _ := w.store.GetRollout(ctx, id); after.Version == before.Version {
			w.clock.t = w.clock.t.Add(10 * time.Second)
		}
	}
	t.Fatal("the rollout did not settle in 200 steps")
	return nil
}

func (w *world) createRollout(t *testing.T, plan Rollout, config string) *RolloutRecord {
	t.Helper()
	if errs := CheckPlan(&plan); len(errs) > 0 {
		t.Fatalf("plan %+v: %v", plan, errs)
	}
	ro := &RolloutRecord{Team: "default", Selector: map[string]string{"env": "dev"}, Config: config,
		ConfigHash: fleet.Hash([]byte(config)), Plan: plan, PipelineID: "pl-1", PipelineVersion: 2}
	if err := w.store.CreateRollout(context.Background(), ro, "alice"); err != nil {
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
		plan       Rollout
		refuse     string // agent that never runs the config healthily
		wantState  RolloutState
		wantReason string
		wantPushes map[string]string // agent -> hashes pushed, comma-separated
	}{
		{"all at once", 3, Rollout{Strategy: RolloutAll}, "", RolloutSucceeded, "3 agents run the config",
			map[string]string{"agent-1": "v2", "agent-2": "v2", "agent-3": "v2"}},
		{"staged through every step", 4, Rollout{Strategy: RolloutStaged, Steps: []int{25, 50, 100}, Pause: Duration(20 * time.Second)}, "",
			RolloutSucceeded, "4 agents run the config", map[string]string{"agent-1": "v2", "agent-2": "v2", "agent-3": "v2", "agent-4": "v2"}},
		{"second step fails: every agent rolls back", 2, Rollout{Strategy: RolloutStaged, Steps: []int{50, 100}, Pause: Duration(20 * time.Second)}, "agent-2",
			RolloutRolledBack, "step 2 (100%): agents did not run the config healthily",
			map[string]string{"agent-1": "v2,v1", "agent-2": "v2,v1"}},
		{"first step fails: the untouched agent gets nothing", 2, Rollout{Strategy: RolloutStaged, Steps: []int{50, 100}, Pause: Duration(20 * time.Second)}, "agent-1",
			RolloutRolledBack, "step 1 (50%)", map[string]string{"agent-1": "v2,v1"}},
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
			if tc.wantState == RolloutRolledBack {
				for id := range tc.wantPushes {
					if w.fleet.desired[id] != prod {
						t.Errorf("%s runs %s after the rollback", id, w.fleet.desired[id])
					}
				}
			}
		})
	}
}

// An experiment does not start on agents a rollout holds, and a rollout
// waits for agents an experiment holds; an aborted rollout gives its
// agents back.
func TestRolloutAndExperimentShareNoAgent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 1)
	r := w.runner(t, nil)
	ro := w.createRollout(t, Rollout{Strategy: RolloutStaged, Steps: []int{100}, Pause: 0}, "production v2\n")
	w.fleet.refuse["agent-1"] = ro.ConfigHash // keeps the rollout rolling
	if _, err := r.StepRollout(ctx, ro.ID); err != nil {
		t.Fatal(err)
	}
	rec := w.create(t, specFor(t, "blocked", OnSuccessWait, ""))
	if _, err := r.Step(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := w.store.Get(ctx, rec.ID)
	if got.State != Pending || !strings.Contains(got.Progress.Note, "agent-1 (rollout "+ro.ID+")") {
		t.Fatalf("experiment %s, note %q: should wait for the rollout's agent", got.State, got.Progress.Note)
	}
	cur, _ := w.store.GetRollout(ctx, ro.ID)
	if _, err := w.store.AbortRollout(ctx, ro.ID, cur.Version, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	final := w.driveRollout(t, ro.ID)
	if final.State != RolloutAborted || !final.Progress.Restored || w.fleet.desired["agent-1"] != fleet.Hash([]byte("production v1\n")) {
		t.Fatalf("aborted rollout %+v left agent-1 on %s", final, w.fleet.desired["agent-1"])
	}
	if _, err := w.store.AbortRollout(ctx, ro.ID, final.Version, "again"); err == nil {
		t.Fatal("a final rollout was aborted")
	}
	if _, err := r.Step(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.store.Get(ctx, rec.ID); got.State != Deploying {
		t.Fatalf("experiment %s after the rollout let go, want deploying", got.State)
	}
}
