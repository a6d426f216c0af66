// Package events is the WebSocket relay of Phoenix events: one core NATS
// subscription on phoenix.events.>, topics per kind and per object, bounded
// send queues that drop a slow client rather than buffer without limit.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/authn"
)

// WebSocket bounds: every client has a fixed send queue; a client that
// cannot keep up is dropped rather than buffered without limit.
const (
	wsSendQueue    = 64
	wsMaxClients   = 1000
	wsMaxTopics    = 32
	wsReadLimit    = 4 << 10
	wsWriteTimeout = 10 * time.Second
)

// HeartbeatEvery paces heartbeat frames and pings (a variable so a test
// can see one without waiting 25 s).
var HeartbeatEvery = 25 * time.Second

// In is a client frame.
type In struct {
	Op    string `json:"op"`
	Topic string `json:"topic"`
}

// Out is a server frame.
type Out struct {
	Topic string          `json:"topic"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
}

var wsIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(--[A-Za-z0-9_-]{1,64})?$`)

// Metrics are the hub's own series.
type Metrics struct {
	Dropped prometheus.Counter // slow clients dropped
	Clients prometheus.Gauge   // connected clients
}

// Authorizer is the object-level check on subscribing to a per-id topic
// (kind "experiment" or "stream"): nil when p may read that object. The
// gateway answers it with the owning service's GET for the object.
type Authorizer func(ctx context.Context, p apiv1.Principal, kind, id string) error

// Settings configure a Hub.
type Settings struct {
	Metrics        Metrics
	Authorize      Authorizer
	AllowedOrigins []string // the browser origins allowed besides same-origin
}

// Hub relays events from one core NATS subscription on phoenix.events.> to
// the WebSocket clients subscribed to each topic.
type Hub struct {
	s       Settings
	sub     *nats.Subscription
	mu      sync.Mutex
	clients map[*wsClient]struct{}
	closed  bool
	wg      sync.WaitGroup
}

type wsClient struct {
	p      apiv1.Principal
	send   chan []byte
	cancel context.CancelFunc
	mu     sync.Mutex
	topics map[string]bool
}

// NewHub subscribes to every event on conn.
func NewHub(conn *nats.Conn, s Settings) (*Hub, error) {
	h := &Hub{s: s, clients: map[*wsClient]struct{}{}}
	sub, err := conn.Subscribe(messaging.EventSubjectPrefix+">", h.onEvent)
	if err != nil {
		return nil, err
	}
	// Bound what NATS buffers for us too.
	_ = sub.SetPendingLimits(10_000, 64<<20)
	h.sub = sub
	return h, nil
}

// topicsFor maps an event subject (phoenix.events.<kind>.<id>) to topics.
func topicsFor(subject string) []string {
	rest, ok := strings.CutPrefix(subject, messaging.EventSubjectPrefix)
	if !ok {
		return nil
	}
	kind, id, _ := strings.Cut(rest, ".")
	switch kind {
	case messaging.KindExperiment:
		return []string{"experiments", "experiment:" + id}
	case messaging.KindAlert:
		return []string{"alerts"}
	case messaging.KindRollup:
		return []string{"stream:" + id}
	case messaging.KindAgent:
		return []string{"agents"}
	case messaging.KindRollout:
		return []string{"rollouts"}
	}
	return nil
}

// visible decides whether a client may see an event on a collection topic.
// Experiments, alerts and agents belong to teams: the event's data must name
// a team the caller is in (events without a team go to admins only), as the
// REST lists filter them. Per-id topics were checked when subscribed.
func visible(p apiv1.Principal, topic string, data json.RawMessage) bool {
	switch topic {
	case "experiments", "alerts", "agents", "rollouts":
		if p.Admin() {
			return true
		}
		var owner struct {
			Team string `json:"team"`
		}
		_ = json.Unmarshal(data, &owner)
		return owner.Team != "" && p.InTeam(owner.Team)
	}
	return true
}

func (h *Hub) onEvent(m *nats.Msg) {
	topics := topicsFor(m.Subject)
	if len(topics) == 0 {
		return
	}
	var ev messaging.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		var frame []byte
		for c := range h.clients {
			c.mu.Lock()
			sub := c.topics[t]
			c.mu.Unlock()
			if !sub || !visible(c.p, t, ev.Data) {
				continue
			}
			if frame == nil {
				frame, _ = json.Marshal(Out{Topic: t, Event: ev.Type, Data: ev.Data})
			}
			h.enqueue(c, frame)
		}
	}
}

// enqueue never blocks: a full queue drops the client. Caller holds h.mu.
func (h *Hub) enqueue(c *wsClient, frame []byte) {
	select {
	case c.send <- frame:
	default:
		h.s.Metrics.Dropped.Inc()
		delete(h.clients, c)
		h.s.Metrics.Clients.Dec()
		c.cancel()
	}
}

func (h *Hub) add(c *wsClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= wsMaxClients {
		return false
	}
	h.clients[c] = struct{}{}
	h.s.Metrics.Clients.Inc()
	// Counted under the lock that close takes first, so close's Wait
	// always sees every handler that got in.
	h.wg.Add(1)
	return true
}

func (h *Hub) remove(c *wsClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.s.Metrics.Clients.Dec()
	}
}

// Close ends the subscription and every client, waiting for their goroutines.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		c.cancel()
	}
	h.mu.Unlock()
	if h.sub != nil {
		_ = h.sub.Unsubscribe()
	}
	h.wg.Wait()
}

// originPatterns turns the allowed origins into websocket host patterns; with
// none, only same-origin handshakes pass.
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// ServeHTTP upgrades an authenticated request (authn.WithPrincipal) to a
// WebSocket and relays the topics it subscribes to.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &wsClient{p: authn.PrincipalFrom(r.Context()), send: make(chan []byte, wsSendQueue), topics: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if !h.add(c) {
		cancel()
		httpx.WriteError(w, r, problem.Unavailable(5*time.Second, "too many WebSocket clients"))
		return
	}
	// The server's write timeout must not end a long-lived connection.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originPatterns(h.s.AllowedOrigins)})
	if err != nil {
		h.remove(c)
		h.wg.Done()
		cancel()
		return // Accept has answered (403 for a foreign origin)
	}
	conn.SetReadLimit(wsReadLimit)
	defer h.wg.Done()
	defer h.remove(c)
	defer cancel()
	go func() {
		defer cancel()
		h.read(ctx, conn, c)
	}()
	h.write(ctx, conn, c)
}

// write sends queued frames and heartbeats until the client goes away or
// is dropped.
func (h *Hub) write(ctx context.Context, conn *websocket.Conn, c *wsClient) {
	tick := time.NewTicker(HeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			reason := "closing"
			h.mu.Lock()
			_, still := h.clients[c]
			closed := h.closed
			h.mu.Unlock()
			if !still && !closed {
				reason = "slow consumer: send queue full"
				_ = conn.Close(websocket.StatusPolicyViolation, reason)
				return
			}
			_ = conn.Close(websocket.StatusGoingAway, reason)
			return
		case frame := <-c.send:
			wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, frame)
			cancel()
			if err != nil {
				return
			}
		case now := <-tick.C:
			data, _ := json.Marshal(map[string]string{"time": now.UTC().Format(time.RFC3339)})
			frame, _ := json.Marshal(Out{Topic: "system", Event: "heartbeat", Data: data})
			wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, frame)
			if err == nil {
				err = conn.Ping(wctx)
			}
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// read handles subscribe and unsubscribe frames.
func (h *Hub) read(ctx context.Context, conn *websocket.Conn, c *wsClient) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		in, err := parseFrame(data)
		if err != nil {
			h.reply(c, "", "error", err.Error())
			continue
		}
		switch in.Op {
		case "subscribe":
			if err := h.authorize(ctx, c.p, in.Topic); err != nil {
				h.reply(c, in.Topic, "error", err.Error())
				continue
			}
			c.mu.Lock()
			full := len(c.topics) >= wsMaxTopics && !c.topics[in.Topic]
			if !full {
				c.topics[in.Topic] = true
			}
			c.mu.Unlock()
			if full {
				h.reply(c, in.Topic, "error", "too many subscriptions")
				continue
			}
			h.reply(c, in.Topic, "subscribed", "")
		case "unsubscribe":
			c.mu.Lock()
			delete(c.topics, in.Topic)
			c.mu.Unlock()
			h.reply(c, in.Topic, "unsubscribed", "")
		default:
			h.reply(c, in.Topic, "error", "unknown op")
		}
	}
}

func (h *Hub) reply(c *wsClient, topic, event, msg string) {
	var data json.RawMessage
	if msg != "" {
		data, _ = json.Marshal(map[string]string{"message": msg})
	}
	frame, _ := json.Marshal(Out{Topic: topic, Event: event, Data: data})
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		h.enqueue(c, frame)
	}
	h.mu.Unlock()
}

// ErrTopic is the one refusal for an id the caller may not see, so a
// refusal does not reveal whether the object exists.
var ErrTopic = errors.New("topic not found")

// PublishedKinds are the event kinds some service publishes today
// (analytics: rollup; controller: agent, experiment, rollout and adaptive;
// generator: pipeline; anomaly-detector: alert). A topic is offered only
// when its kind is here and topicKinds maps a topic to it (no topic carries
// adaptive yet): a client must not wait on a room nobody speaks in.
// TestPublishedKinds checks this list against the services' publishes.
var PublishedKinds = []string{messaging.KindRollup, messaging.KindAgent, messaging.KindExperiment, messaging.KindPipeline, messaging.KindAlert,
	messaging.KindRollout, messaging.KindAdaptive}

// topicKinds maps each topic (collection or "<kind>:" per-id prefix) to the
// event kind it relays.
var topicKinds = []struct{ topic, kind string }{
	{"experiments", messaging.KindExperiment},
	{"experiment:<id>", messaging.KindExperiment},
	{"alerts", messaging.KindAlert},
	{"stream:<id>", messaging.KindRollup},
	{"agents", messaging.KindAgent},
	{"rollouts", messaging.KindRollout},
}

// offered lists the topics of published kinds, for error messages.
func offered() string {
	var out []string
	for _, tk := range topicKinds {
		if slices.Contains(PublishedKinds, tk.kind) {
			out = append(out, tk.topic)
		}
	}
	return strings.Join(out, ", ")
}

// authorize checks a topic's form and that something publishes its kind,
// then for a per-id topic asks the Authorizer.
func (h *Hub) authorize(ctx context.Context, p apiv1.Principal, topic string) error {
	name, id, perID := strings.Cut(topic, ":")
	if perID {
		name += ":<id>"
	}
	kind := ""
	for _, tk := range topicKinds {
		if tk.topic == name {
			kind = tk.kind
		}
	}
	if kind == "" || (perID && !wsIDRe.MatchString(id)) {
		return fmt.Errorf("unknown topic: want one of %s", offered())
	}
	if !slices.Contains(PublishedKinds, kind) {
		return fmt.Errorf("topic %s is not offered: nothing publishes %s events yet (offered: %s)", name, kind, offered())
	}
	if !perID {
		return nil
	}
	return h.s.Authorize(ctx, p, strings.TrimSuffix(name, ":<id>"), id)
}

// parseFrame decodes a client frame strictly.
func parseFrame(data []byte) (In, error) {
	var in In
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return In{}, errors.New(`malformed frame: want {"op": "subscribe"|"unsubscribe", "topic": ...}`)
	}
	if len(in.Topic) > 200 {
		return In{}, errors.New("topic too long")
	}
	return in, nil
}
