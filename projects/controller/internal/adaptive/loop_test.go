package adaptive

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

type published struct {
	mu     sync.Mutex
	events []string // kind/id/type
}

func (p *published) PublishEvent(_ context.Context, kind, id, typ string, _ any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, kind+"/"+id+"/"+typ)
	return nil
}

func (p *published) count(typ string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.events {
		if len(e) >= len(typ) && e[len(e)-len(typ):] == typ {
			n++
		}
	}
	return n
}

// series is a settable measurement per stream, read by the loop's goroutine.
type series struct {
	mu sync.Mutex
	by map[string]float64
}

func (s *series) set(stream string, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.by[stream] = v
}

func (s *series) measure(_ context.Context, stream string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.by[stream]
	if !ok {
		return 0, errors.New("stream " + stream + " not found")
	}
	return v, nil
}

// TestLoop: with the real stores and the rollout applier, a shadow policy
// records its decision and creates no rollout; an apply policy switching
// mode creates a rollout of the mode's pipeline for its team; an off
// policy is never measured; switching back and forth past the oscillation
// bound publishes an oscillating event.
func TestLoop(t *testing.T) {
	eachStore(t, func(t *testing.T, db *database.Store, s *Store) {
		ctx := context.Background()
		ros := rollout.NewStore(db)
		if err := ros.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		bus := generator{
			"pl-cons": {PipelineID: "pl-cons", Version: 1, Team: "red", Config: "receivers: {}\n"},
			"pl-bal":  {PipelineID: "pl-bal", Version: 2, Team: "red", Config: "receivers: {otlp: {}}\n"},
			"pl-agg":  {PipelineID: "pl-agg", Version: 3, Team: "red", Config: "receivers: {}\n"},
		}
		shadowSpec, applySpec, offSpec := specOf(apiv1.AdaptiveShadow), specOf(apiv1.AdaptiveApply), specOf("")
		shadowSpec.Stream, applySpec.Stream, offSpec.Stream = "s-shadow", "s-apply", "s-off"
		applySpec.MinDwell, applySpec.OscillationSwitches = "1s", 2
		shadowP, _ := s.Create(ctx, "red", "otto", shadowSpec)
		applyP, _ := s.Create(ctx, "red", "otto", applySpec)
		if _, err := s.Create(ctx, "red", "otto", offSpec); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Add(time.Hour) // past every policy's dwell
		meas := &series{by: map[string]float64{"s-shadow": 20_000, "s-apply": 20_000}}
		ev := &published{}
		l := NewLoop(LoopSettings{Store: s, Measure: meas.measure, Events: ev, Now: func() time.Time { return now },
			ApplierFor: func(team string) Applier { return &RolloutApplier{Bus: bus, Store: ros, Team: team} }})
		// The off policy's stream has no measurement: measuring it would
		// fail the tick.
		if err := l.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		rollouts := func() []*rollout.Record {
			rs, err := ros.Find(ctx, nil, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		sd, _ := s.Decisions(ctx, nil, shadowP.ID, "", 10)
		if len(sd) != 1 || !sd[0].Shadow || sd[0].Applied || sd[0].To != "balanced" || sd[0].RolloutID != "" {
			t.Fatalf("shadow decisions: %+v", sd)
		}
		ad, _ := s.Decisions(ctx, nil, applyP.ID, "", 10)
		rs := rollouts()
		if len(ad) != 1 || !ad[0].Applied || ad[0].RolloutID == "" || len(rs) != 1 {
			t.Fatalf("apply decisions %+v, %d rollouts (want 1 applied, 1 rollout)", ad, len(rs))
		}
		if r := rs[0]; r.ID != ad[0].RolloutID || r.PipelineID != "pl-bal" || r.PipelineVersion != 2 || r.Team != "red" ||
			r.Selector["env"] != "prod" || r.CreatedBy != Actor {
			t.Fatalf("rollout %+v", r)
		}
		if got, _ := s.Get(ctx, shadowP.ID); got.Mode != "balanced" {
			t.Fatalf("shadow mode stored %q, want balanced (the mode it would run)", got.Mode)
		}
		// Same measurement: no new decision.
		if err := l.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if ad, _ := s.Decisions(ctx, nil, applyP.ID, "", 10); len(ad) != 1 {
			t.Fatalf("a steady measurement decided again: %d decisions", len(ad))
		}
		// Flapping far past the bounds: every tick switches; the third
		// switch in the window is more than oscillation_switches 2.
		for i, v := range []float64{5_000, 20_000} {
			now = now.Add(2 * time.Second)
			meas.set("s-apply", v)
			if err := l.Tick(ctx); err != nil {
				t.Fatalf("tick %d: %v", i, err)
			}
		}
		if n := ev.count("/" + EventOscillation); n != 1 {
			t.Fatalf("%d oscillating events (%v), want 1", n, ev.events)
		}
		if n := len(rollouts()); n != 3 {
			t.Fatalf("%d rollouts after three applied switches", n)
		}
		// Disabling the policy stops its decisions.
		got, _ := s.Get(ctx, applyP.ID)
		if _, err := s.Update(ctx, applyP.ID, got.Version, offSpec); err != nil {
			t.Fatal(err)
		}
		meas.set("s-apply", 5_000)
		now = now.Add(time.Minute)
		if err := l.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if ad, _ := s.Decisions(ctx, nil, applyP.ID, "", 10); len(ad) != 3 {
			t.Fatalf("a disabled policy decided: %d decisions", len(ad))
		}
	})
}

// TestLoopStartStop: the background loop ticks by itself and Stop ends
// its goroutine (goleak in TestMain); Stop twice is fine.
func TestLoopStartStop(t *testing.T) {
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
	p, _ := s.Create(ctx, "red", "otto", specOf(apiv1.AdaptiveShadow))
	meas := &series{by: map[string]float64{"prod": 100_000}}
	l := NewLoop(LoopSettings{Store: s, Measure: meas.measure, Interval: 10 * time.Millisecond,
		Now:        func() time.Time { return time.Now().Add(time.Hour) },
		ApplierFor: func(string) Applier { return &fakeApplier{} }})
	l.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := s.Decisions(ctx, nil, p.ID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].To == "aggressive" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no decision from the running loop: %+v", ds)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	for range 2 {
		if err := l.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
