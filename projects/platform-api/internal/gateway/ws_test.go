package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/events"
)

func dialWS(t *testing.T, e *testEnv, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.base, "http") + "/api/v1/ws"
	if token != "" {
		u += "?access_token=" + token
	}
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: hdr})
}

func readFrame(t *testing.T, c *websocket.Conn) events.Out {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		var f events.Out
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		if f.Event != "heartbeat" {
			return f
		}
	}
}

func send(t *testing.T, c *websocket.Conn, op, topic string) {
	t.Helper()
	b, _ := json.Marshal(events.In{Op: op, Topic: topic})
	if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func TestWebSocket(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	alice := e.createUser(admin, "alice", "operator", "team-a")

	if _, r, err := dialWS(t, e, "", nil); err == nil || r == nil || r.StatusCode != 401 {
		t.Fatalf("anonymous WebSocket: %v", err)
	}
	if _, r, err := dialWS(t, e, alice, http.Header{"Origin": {"https://evil.example.com"}}); err == nil || r == nil || r.StatusCode != 403 {
		t.Fatalf("foreign origin accepted: %v", err)
	}
	c, _, err := dialWS(t, e, alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	send(t, c, "subscribe", "agents")
	if f := readFrame(t, c); f.Event != "subscribed" || f.Topic != "agents" {
		t.Fatalf("ack: %+v", f)
	}
	// The experiment runner publishes experiment events and the anomaly
	// detector alerts: both collection topics are offered.
	for _, topic := range []string{"experiments", "alerts"} {
		send(t, c, "subscribe", topic)
		if f := readFrame(t, c); f.Event != "subscribed" || f.Topic != topic {
			t.Fatalf("subscription to %s: %+v", topic, f)
		}
	}
	// No controller answers experiment objects in this test: a per-id topic
	// is refused without saying whether the experiment exists.
	send(t, c, "subscribe", "experiment:exp-1")
	if f := readFrame(t, c); f.Event != "error" || !strings.Contains(string(f.Data), "not found") {
		t.Fatalf("per-id experiment subscription without an owner check: %+v", f)
	}
	// No analytics answers stream objects in this test: a non-admin may not
	// subscribe to an id, and the refusal does not say whether it exists.
	send(t, c, "subscribe", "stream:s1")
	if f := readFrame(t, c); f.Event != "error" || !strings.Contains(string(f.Data), "not found") {
		t.Fatalf("per-id subscription without an owner check: %+v", f)
	}
	send(t, c, "subscribe", "everything")
	if f := readFrame(t, c); f.Event != "error" {
		t.Fatalf("unknown topic: %+v", f)
	}

	ctx := context.Background()
	bus := e.app.Settings.Bus
	// Another team's experiment event is filtered out.
	if err := bus.PublishEvent(ctx, messaging.KindExperiment, "exp-b", "transition", map[string]string{"team": "team-b"}); err != nil {
		t.Fatal(err)
	}
	// Alerts belong to teams: team B's is filtered out, team A's arrives
	// (and is the first frame: team B's experiment event was not relayed).
	for _, team := range []string{"team-b", "team-a"} {
		if err := bus.PublishEvent(ctx, messaging.KindAlert, "al-"+team, "fired", map[string]string{"id": "al-" + team, "team": team}); err != nil {
			t.Fatal(err)
		}
	}
	if f := readFrame(t, c); f.Topic != "alerts" || f.Event != "fired" || !strings.Contains(string(f.Data), "al-team-a") {
		t.Fatalf("alert event: %+v", f)
	}
	// Agents likewise: team B's agent is filtered out, team A's arrives.
	if err := bus.PublishEvent(ctx, messaging.KindAgent, "host-2", "connected", map[string]string{"agent": "host-2", "team": "team-b"}); err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishEvent(ctx, messaging.KindAgent, "host-1", "connected", map[string]string{"agent": "host-1", "team": "team-a"}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Topic != "agents" || f.Event != "connected" || !strings.Contains(string(f.Data), "host-1") {
		t.Fatalf("agent event: %+v", f)
	}
	if err := bus.PublishEvent(ctx, messaging.KindExperiment, "exp-a", "transition", map[string]string{"team": "team-a"}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Topic != "experiments" || f.Event != "transition" || !strings.Contains(string(f.Data), "team-a") {
		t.Fatalf("experiment event: %+v", f)
	}
	send(t, c, "unsubscribe", "agents")
	if f := readFrame(t, c); f.Event != "unsubscribed" {
		t.Fatalf("unsubscribe ack: %+v", f)
	}
}

// TestWebSocketAdminSubscribesToIDs: an admin may subscribe to an id even
// without an owning service in the process.
func TestWebSocketAdminSubscribesToIDs(t *testing.T) {
	e := newEnv(t, func(c *config.Server) { c.Auth.AllowedOrigins = []string{"https://dash.example.com"} })
	c, _, err := dialWS(t, e, e.adminToken(), http.Header{"Origin": {"https://dash.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send(t, c, "subscribe", "stream:exp-1--candidate")
	if f := readFrame(t, c); f.Event != "subscribed" {
		t.Fatalf("admin per-id subscription: %+v", f)
	}
	if err := e.app.Settings.Bus.PublishEvent(context.Background(), messaging.KindRollup, "exp-1--candidate", "rollup", map[string]int{"series": 3}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, c); f.Topic != "stream:exp-1--candidate" || f.Event != "rollup" {
		t.Fatalf("rollup event: %+v", f)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	saved := events.HeartbeatEvery
	events.HeartbeatEvery = 50 * time.Millisecond
	t.Cleanup(func() { events.HeartbeatEvery = saved })
	e := newEnv(t)
	c, _, err := dialWS(t, e, e.adminToken(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f events.Out
	if err := json.Unmarshal(data, &f); err != nil || f.Topic != "system" || f.Event != "heartbeat" {
		t.Fatalf("first frame %s (%v), want a heartbeat", data, err)
	}
}
