package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// fakeAnalytics is analytics as the critical check sees it: every agent
// of the fleet scrapes the same host ("h1": nginx and postgres) into one
// stream, except that an agent whose desired config is drops sends no
// postgres.
type fakeAnalytics struct {
	fleet *fakeFleet
	drops string // config hash that drops postgres
	asked []string
}

func (a *fakeAnalytics) Entities(_ context.Context, stream, matcher string, keys []string, _ time.Time) (apiv1.EntitiesMatch, error) {
	a.asked = append(a.asked, stream+" "+matcher+" "+strings.Join(keys, ","))
	a.fleet.mu.Lock()
	defer a.fleet.mu.Unlock()
	procs := map[string]bool{}
	for id, h := range a.fleet.desired {
		if a.fleet.labels[id]["env"] != "dev" {
			continue
		}
		procs["nginx"] = true
		if h != a.drops {
			procs["postgres"] = true
		}
	}
	out := apiv1.EntitiesMatch{Matcher: matcher, Entities: []string{}}
	for p := range procs {
		if strings.Contains(matcher, p) {
			out.Entities = append(out.Entities, "host.name=h1,process.executable.name="+p)
		}
	}
	slices.Sort(out.Entities)
	out.Count = len(out.Entities)
	return out, nil
}

// A staged rollout whose config loses a critical entity rolls back every
// agent at the step where analytics stops receiving it: with two agents on
// one host, the first step (one agent) keeps postgres arriving from the
// other, the second loses it.
func TestRolloutCriticalEntities(t *testing.T) {
	staged := experiment.Rollout{Strategy: experiment.RolloutStaged, Steps: []int{50, 100}, Pause: experiment.Duration(20 * time.Second)}
	critical := []string{`process.executable.name=~"nginx|postgres"`}
	for _, tc := range []struct {
		name       string
		plan       experiment.Rollout
		drops      bool
		critical   []string
		wantState  State
		wantReason string
		wantPushes string // per agent
	}{
		{"staged, keeps every entity", staged, false, critical, Succeeded, "every critical entity still arrives", "v2"},
		{"staged, second step loses postgres", staged, true, critical, RolledBack,
			`step 2 (100%): analytics no longer receives 1 critical entities on stream default: process.executable.name=~"nginx|postgres" {host.name=h1,process.executable.name=postgres}`, "v2,v1"},
		{"all at once loses postgres", experiment.Rollout{Strategy: experiment.RolloutAll}, true, critical, RolledBack, "step 1 (100%): analytics no longer receives", "v2,v1"},
		{"a matcher with nothing before checks nothing", staged, true, []string{`process.executable.name="sshd"`}, Succeeded, "2 agents run the config", "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 2)
			next := "production v2\n"
			an := &fakeAnalytics{fleet: w.fleet}
			if tc.drops {
				an.drops = fleet.Hash([]byte(next))
			}
			w.critical = an
			plan := tc.plan
			if errs := experiment.CheckPlan(&plan); len(errs) > 0 {
				t.Fatal(errs)
			}
			ro := &Record{Team: "default", Selector: map[string]string{"env": "dev"}, Config: next,
				ConfigHash: fleet.Hash([]byte(next)), Plan: plan, Critical: tc.critical}
			if err := w.store.Create(context.Background(), ro, "alice"); err != nil {
				t.Fatal(err)
			}
			final := w.driveRollout(t, ro.ID)
			if final.State != tc.wantState || !strings.Contains(final.Reason, tc.wantReason) {
				t.Fatalf("rollout %s (%s), want %s (%s)", final.State, final.Reason, tc.wantState, tc.wantReason)
			}
			names := map[string]string{fleet.Hash([]byte("production v1\n")): "v1", ro.ConfigHash: "v2"}
			for _, id := range []string{"agent-1", "agent-2"} {
				var got []string
				for _, h := range w.fleet.pushLog()[id] {
					got = append(got, names[h])
				}
				if g := strings.Join(got, ","); g != tc.wantPushes {
					t.Errorf("%s pushes %s, want %s", id, g, tc.wantPushes)
				}
			}
			if len(an.asked) == 0 || !strings.HasSuffix(an.asked[0], " host.name,process.executable.name") {
				t.Errorf("analytics asked %q: want the entity keyed by host and executable", an.asked)
			}
		})
	}
}

func TestEntityKeys(t *testing.T) {
	for in, want := range map[string]string{
		`process.executable.name=~"nginx|postgres"`:                "host.name,process.executable.name",
		`{"process.owner"="root", container_id!="", __name__="x"}`: "host.name,process.owner,container_id",
		`host.name="h1"`: "host.name",
		`{"a=b"="c"}`:    "host.name,a=b",
	} {
		if got := strings.Join(entityKeys(in), ","); got != want {
			t.Errorf("entityKeys(%s) = %s, want %s", in, got, want)
		}
	}
}

// Every write of a rollout is an event in the outbox, in order, and the
// runner publishes each once.
func TestRolloutEvents(t *testing.T) {
	w := newWorld(t, 2)
	ctx := context.Background()
	ro := w.createRollout(t, experiment.Rollout{Strategy: experiment.RolloutStaged, Steps: []int{50, 100}, Pause: experiment.Duration(20 * time.Second)}, "production v2\n")
	w.fleet.refuse["agent-2"] = ro.ConfigHash
	w.driveRollout(t, ro.ID)
	evs, err := w.store.Events(ctx, ro.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range evs {
		if e.Version != int64(i+1) || e.Team != "default" || e.RolloutID != ro.ID {
			t.Errorf("event %d: %+v", i, e)
		}
		got = append(got, e.Transition)
	}
	want := "created>2 agents selected>step 1 applied>step 1 checked>rolled_back>"
	if g := strings.Join(got, ">") + ">"; !strings.HasPrefix(g, want) || evs[0].Actor != "alice" || evs[1].Actor != Actor {
		t.Fatalf("events %s, want %s (actors %s, %s)", g, want, evs[0].Actor, evs[1].Actor)
	}
	pub := &recordingPublisher{}
	r, err := NewRunner(Settings{Store: w.store, Deployer: w.fleet, Clock: w.clock, Publisher: pub})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second pass publishes nothing again
		if _, err := r.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(pub.events) != len(evs) {
		t.Fatalf("published %d events, want %d", len(pub.events), len(evs))
	}
	if un, err := w.store.Unpublished(ctx, 10); err != nil || len(un) != 0 {
		t.Fatalf("unpublished after a pass: %v %v", un, err)
	}
}

type recordingPublisher struct{ events []Event }

func (p *recordingPublisher) Publish(_ context.Context, e Event) error {
	p.events = append(p.events, e)
	return nil
}
