package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats-server keeps a few process-wide goroutines (timers, the
		// global TLS cache) that outlive any one server.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

// buses connects to the embedded server and to the local NATS server (the
// latter skipped when absent outside CI).
func buses(t *testing.T) map[string]*Bus {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Bus{}
	emb, err := Connect(ctx, Settings{DataDir: t.TempDir(), Name: "test-embedded"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	if !emb.Embedded() {
		t.Fatal("expected an embedded server")
	}
	out["embedded"] = emb
	if testutil.NATSReachable() {
		real, err := Connect(ctx, Settings{URL: testutil.NATSURL(t), Name: "test-real"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(real.Close)
		out["server"] = real
	} else {
		t.Log("NATS server not reachable: running the embedded leg only")
	}
	return out
}

type echoReq struct {
	Text string `json:"text"`
}

func TestRequestReply(t *testing.T) {
	for name, b := range buses(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			svcName := fmt.Sprintf("echo-%d", time.Now().UnixNano())
			subj := "phoenix.test." + svcName
			svc, err := b.AddService(ServiceConfig{
				Name: svcName, Version: "1.0.0",
				Endpoints: []Endpoint{
					{Name: "echo", Subject: subj + ".echo", Handler: func(_ context.Context, data []byte) (any, error) {
						var r echoReq
						if err := Decode(data, &r); err != nil {
							return nil, err
						}
						return r, nil
					}},
					{Name: "missing", Subject: subj + ".missing", Handler: func(context.Context, []byte) (any, error) {
						return nil, problem.NotFound("no widget %q", "w1")
					}},
					{Name: "create", Subject: subj + ".create", Handler: func(context.Context, []byte) (any, error) {
						return StatusReply{Status: http.StatusCreated, Body: map[string]string{"id": "w2"}}, nil
					}},
					{Name: "panic", Subject: subj + ".panic", Handler: func(context.Context, []byte) (any, error) {
						panic("bug")
					}},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Stop()

			var got echoReq
			if err := b.Request(ctx, subj+".echo", echoReq{Text: "hi"}, &got); err != nil || got.Text != "hi" {
				t.Fatalf("echo: %+v, %v", got, err)
			}
			err = b.Request(ctx, subj+".echo", json.RawMessage(`"not an object"`), &got)
			if p := problem.From(err); p.Status != http.StatusBadRequest {
				t.Fatalf("malformed body: got %v", err)
			}
			err = b.Request(ctx, subj+".missing", nil, nil)
			if p := problem.From(err); p.Status != http.StatusNotFound || !strings.Contains(p.Detail, "w1") {
				t.Fatalf("missing: got %v", err)
			}
			status, raw, err := b.RequestRaw(ctx, subj+".create", nil)
			if err != nil || status != http.StatusCreated || !strings.Contains(string(raw), "w2") {
				t.Fatalf("create: %d %s %v", status, raw, err)
			}
			err = b.Request(ctx, subj+".panic", nil, nil)
			if p := problem.From(err); p.Status != http.StatusInternalServerError {
				t.Fatalf("panic: got %v", err)
			}
			// The micro framework makes the service discoverable by PING.
			msg, err := b.Conn.RequestWithContext(ctx, "$SRV.PING."+svcName, nil)
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
			var ping micro.Ping
			if err := json.Unmarshal(msg.Data, &ping); err != nil || ping.Name != svcName {
				t.Fatalf("ping reply %s: %v", msg.Data, err)
			}
			// Once stopped, callers get a 503 instead of hanging.
			if err := svc.Stop(); err != nil {
				t.Fatal(err)
			}
			err = b.Request(ctx, subj+".echo", echoReq{}, nil)
			if p := problem.From(err); p.Status != http.StatusServiceUnavailable || !errors.Is(err, nats.ErrNoResponders) {
				t.Fatalf("stopped service: got %v", err)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	for name, b := range buses(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id := fmt.Sprintf("exp%d", time.Now().UnixNano())
			cons, err := b.JS.OrderedConsumer(ctx, EventStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{EventSubject(KindExperiment, id)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.PublishEvent(ctx, KindExperiment, id, "state_changed", map[string]string{"state": "running"}); err != nil {
				t.Fatal(err)
			}
			msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var ev Event
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Kind != KindExperiment || ev.ID != id || ev.Type != "state_changed" || !strings.Contains(string(ev.Data), "running") {
				t.Fatalf("event %+v", ev)
			}
			info, err := b.JS.Stream(ctx, EventStream)
			if err != nil {
				t.Fatal(err)
			}
			if cfg := info.CachedInfo().Config; cfg.MaxBytes <= 0 || cfg.MaxAge <= 0 {
				t.Fatalf("event stream must be bounded: %+v", cfg)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	port := testutil.FreePort(t)
	_, err := Connect(context.Background(), Settings{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	if err == nil || !strings.Contains(err.Error(), "connect to nats") {
		t.Fatalf("got %v", err)
	}
}
