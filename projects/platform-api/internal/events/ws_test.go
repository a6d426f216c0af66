package events

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
)

// countingCounter counts Inc calls.
type countingCounter struct {
	prometheus.Counter
	n int
}

func (c *countingCounter) Inc() { c.n++ }

// TestSlowClientDropped: the hub never blocks on a client; a full send queue
// drops it and counts it.
func TestSlowClientDropped(t *testing.T) {
	dropped := &countingCounter{Counter: prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})}
	h := &Hub{s: Settings{Metrics: Metrics{Dropped: dropped, Clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "clients"})}},
		clients: map[*wsClient]struct{}{}}
	cancelled := false
	c := &wsClient{p: apiv1.Principal{Role: "viewer", Teams: []string{"t1"}}, send: make(chan []byte, wsSendQueue), topics: map[string]bool{"agents": true},
		cancel: func() { cancelled = true }}
	h.clients[c] = struct{}{}
	ev, _ := json.Marshal(messaging.Event{Kind: "agent", ID: "a", Type: "heartbeat", Data: json.RawMessage(`{"team":"t1"}`)})
	for range wsSendQueue {
		h.onEvent(&nats.Msg{Subject: "phoenix.events.agent.a", Data: ev})
	}
	if cancelled || len(h.clients) != 1 {
		t.Fatal("client dropped before its queue was full")
	}
	h.onEvent(&nats.Msg{Subject: "phoenix.events.agent.a", Data: ev})
	if !cancelled || len(h.clients) != 0 {
		t.Fatal("slow client kept")
	}
	if len(c.send) != wsSendQueue {
		t.Fatalf("queue grew to %d", len(c.send))
	}
	if dropped.n != 1 {
		t.Fatalf("dropped counter %d, want 1", dropped.n)
	}
}

func TestTopicsFor(t *testing.T) {
	cases := map[string][]string{
		"phoenix.events.experiment.e1": {"experiments", "experiment:e1"},
		"phoenix.events.alert.a1":      {"alerts"},
		"phoenix.events.rollup.s1":     {"stream:s1"},
		"phoenix.events.agent.h1":      {"agents"},
		"phoenix.events.rollout.ro-1":  {"rollouts"},
		"phoenix.events.pipeline.p1":   nil,
		"phoenix.other":                nil,
	}
	for subj, want := range cases {
		got := topicsFor(subj)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", subj, got, want)
		}
	}
}

func TestParseFrameTestdata(t *testing.T) {
	data, err := os.ReadFile("testdata/ws_frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		want, frame, _ := strings.Cut(line, " ")
		if _, err := parseFrame([]byte(frame)); (err == nil) != (want == "ok") {
			t.Errorf("%s: err=%v, want %s", frame, err, want)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	data, _ := os.ReadFile("testdata/ws_frames.txt")
	for _, line := range strings.Split(string(data), "\n") {
		if _, frame, ok := strings.Cut(line, " "); ok {
			f.Add([]byte(frame))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseFrame(b)
		if err == nil && len(in.Topic) > 200 {
			t.Fatalf("long topic accepted: %d", len(in.Topic))
		}
		// Topics that pass parsing still go through wsAuthorize's checks;
		// the id pattern must never accept a separator that could reach
		// another subject.
		if _, id, ok := strings.Cut(in.Topic, ":"); ok && wsIDRe.MatchString(id) && strings.ContainsAny(id, ".*> /") {
			t.Fatalf("id %q passes the pattern", id)
		}
	})
}
