package experimentrun

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

const topkSpec = `apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: topk-vs-baseline}
spec:
  target: {selector: {env: dev}}
  baseline: {template: baseline}
  candidates:
    - {name: topk, template: topk, set: {k: "10", critical: "nginx|postgres"}}
  warmup: 1s
  duration: 10s
  critical: ['process.executable.name=~"nginx|postgres"']
  criteria: {min_series_reduction_pct: 30, min_critical_retention_pct: 100}
  on_success: promote
`

func newExperimentStore(t *testing.T) *experiment.Store {
	t.Helper()
	s := experiment.NewStore(openDB(t))
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func createExperiment(t *testing.T, s *experiment.Store, spec, team string) *experiment.Record {
	t.Helper()
	e, err := experiment.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	rec := &experiment.Record{Team: team, Spec: *e, State: experiment.Pending}
	if err := s.Create(context.Background(), rec, "alice", "test"); err != nil {
		t.Fatal(err)
	}
	return rec
}

func connect(t *testing.T) *messaging.Bus {
	t.Helper()
	bus, err := messaging.Connect(context.Background(), messaging.Settings{URL: testutil.PrivateNATS(t), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// Every transition lands once on phoenix.events.experiment.<id> with the
// team, however often it is published (a crash between publishing and
// marking it published repeats it).
func TestPublisherDeduplicates(t *testing.T) {
	ctx := context.Background()
	bus := connect(t)
	store := newExperimentStore(t)
	rec := createExperiment(t, store, topkSpec, "web")
	ts, err := store.Transitions(ctx, rec.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("%d transitions, want create and start", len(ts))
	}
	p := &Publisher{JS: bus.JS, Store: store}
	for range 2 {
		for _, tr := range ts {
			if err := p.Publish(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	cons, err := bus.JS.OrderedConsumer(ctx, messaging.EventStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messaging.EventSubject(messaging.KindExperiment, rec.ID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []TransitionData
	for m := range batch.Messages() {
		var ev messaging.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		var d TransitionData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != messaging.KindExperiment || ev.ID != rec.ID || ev.Type != EventTransition {
			t.Fatalf("envelope %+v", ev)
		}
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != MsgID(d.Transition) {
			t.Fatalf("Nats-Msg-Id %q, want %q", id, MsgID(d.Transition))
		}
		got = append(got, d)
	}
	if len(got) != 2 {
		t.Fatalf("%d events stored, want 2 (published twice each, deduplicated)", len(got))
	}
	for i, d := range got {
		if d.Team != "web" || d.Seq != int64(i+1) || d.To != ts[i].To || d.At.Sub(ts[i].At).Abs() > time.Millisecond {
			t.Fatalf("event %d is %+v, want transition %+v of team web", i, d, ts[i])
		}
	}
}
