package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
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

// wsHeartbeatEvery paces heartbeat frames and pings (a variable so a test
// can see one without waiting 25 s).
var wsHeartbeatEvery = 25 * time.Second

// wsIn is a client frame.
type wsIn struct {
	Op    string `json:"op"`
	Topic string `json:"topic"`
}

// wsOut is a server frame.
type wsOut struct {
	Topic string          `json:"topic"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
}

var wsIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(--[A-Za-z0-9_-]{1,64})?$`)

// hub relays events from one core NATS subscription on phoenix.events.> to
// the WebSocket clients subscribed to each topic.
type hub struct {
	g       *Gateway
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

func newHub(g *Gateway) (*hub, error) {
	h := &hub{g: g, clients: map[*wsClient]struct{}{}}
	sub, err := g.s.Bus.Conn.Subscribe(messaging.EventSubjectPrefix+">", h.onEvent)
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
	}
	return nil
}

// visible decides whether a client may see an event on a collection topic.
// Experiments, alerts and agents belong to teams: the event's data must name
// a team the caller is in (events without a team go to admins only), as the
// REST lists filter them. Per-id topics were checked when subscribed.
func visible(p apiv1.Principal, topic string, data json.RawMessage) bool {
	switch topic {
	case "experiments", "alerts", "agents":
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

func (h *hub) onEvent(m *nats.Msg) {
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
				frame, _ = json.Marshal(wsOut{Topic: t, Event: ev.Type, Data: ev.Data})
			}
			h.enqueue(c, frame)
		}
	}
}

// enqueue never blocks: a full queue drops the client. Caller holds h.mu.
func (h *hub) enqueue(c *wsClient, frame []byte) {
	select {
	case c.send <- frame:
	default:
		h.g.metrics.wsDropped.Inc()
		delete(h.clients, c)
		h.g.metrics.wsClients.Dec()
		c.cancel()
	}
}

func (h *hub) add(c *wsClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= wsMaxClients {
		return false
	}
	h.clients[c] = struct{}{}
	h.g.metrics.wsClients.Inc()
	// Counted under the lock that close takes first, so close's Wait
	// always sees every handler that got in.
	h.wg.Add(1)
	return true
}

func (h *hub) remove(c *wsClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.g.metrics.wsClients.Dec()
	}
}

// close ends the subscription and every client, waiting for their goroutines.
func (h *hub) close() {
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

func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if g.hub == nil {
		httpx.WriteError(w, r, problem.Unavailable(time.Second, "events not ready"))
		return
	}
	c := &wsClient{p: principalFrom(r.Context()), send: make(chan []byte, wsSendQueue), topics: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if !g.hub.add(c) {
		cancel()
		httpx.WriteError(w, r, problem.Unavailable(5*time.Second, "too many WebSocket clients"))
		return
	}
	// The server's write timeout must not end a long-lived connection.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originPatterns(g.s.Config.Auth.AllowedOrigins)})
	if err != nil {
		g.hub.remove(c)
		g.hub.wg.Done()
		cancel()
		return // Accept has answered (403 for a foreign origin)
	}
	conn.SetReadLimit(wsReadLimit)
	defer g.hub.wg.Done()
	defer g.hub.remove(c)
	defer cancel()
	go func() {
		defer cancel()
		g.wsRead(ctx, conn, c)
	}()
	g.wsWrite(ctx, conn, c)
}

// wsWrite sends queued frames and heartbeats until the client goes away or
// is dropped.
func (g *Gateway) wsWrite(ctx context.Context, conn *websocket.Conn, c *wsClient) {
	tick := time.NewTicker(wsHeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			reason := "closing"
			g.hub.mu.Lock()
			_, still := g.hub.clients[c]
			closed := g.hub.closed
			g.hub.mu.Unlock()
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
			frame, _ := json.Marshal(wsOut{Topic: "system", Event: "heartbeat", Data: data})
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

// wsRead handles subscribe and unsubscribe frames.
func (g *Gateway) wsRead(ctx context.Context, conn *websocket.Conn, c *wsClient) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		in, err := parseFrame(data)
		if err != nil {
			g.wsReply(c, "", "error", err.Error())
			continue
		}
		switch in.Op {
		case "subscribe":
			if err := g.wsAuthorize(ctx, c.p, in.Topic); err != nil {
				g.wsReply(c, in.Topic, "error", err.Error())
				continue
			}
			c.mu.Lock()
			full := len(c.topics) >= wsMaxTopics && !c.topics[in.Topic]
			if !full {
				c.topics[in.Topic] = true
			}
			c.mu.Unlock()
			if full {
				g.wsReply(c, in.Topic, "error", "too many subscriptions")
				continue
			}
			g.wsReply(c, in.Topic, "subscribed", "")
		case "unsubscribe":
			c.mu.Lock()
			delete(c.topics, in.Topic)
			c.mu.Unlock()
			g.wsReply(c, in.Topic, "unsubscribed", "")
		default:
			g.wsReply(c, in.Topic, "error", "unknown op")
		}
	}
}

func (g *Gateway) wsReply(c *wsClient, topic, event, msg string) {
	var data json.RawMessage
	if msg != "" {
		data, _ = json.Marshal(map[string]string{"message": msg})
	}
	frame, _ := json.Marshal(wsOut{Topic: topic, Event: event, Data: data})
	g.hub.mu.Lock()
	if _, ok := g.hub.clients[c]; ok {
		g.hub.enqueue(c, frame)
	}
	g.hub.mu.Unlock()
}

// errTopic is the one refusal for an id the caller may not see, so a
// refusal does not reveal whether the object exists.
var errTopic = errors.New("topic not found")

// wsAuthorize is the object-level check on subscribe. A per-id topic is
// allowed when the owning service answers the caller's GET for that object
// (the same team check as the REST route); when no service serves such a
// route yet, only admins may subscribe.
func (g *Gateway) wsAuthorize(ctx context.Context, p apiv1.Principal, topic string) error {
	switch topic {
	case "experiments", "alerts", "agents":
		return nil
	}
	kind, id, ok := strings.Cut(topic, ":")
	if !ok || !wsIDRe.MatchString(id) {
		return errors.New("unknown topic: want experiments, experiment:<id>, alerts, stream:<id> or agents")
	}
	var prefix string
	switch kind {
	case "experiment":
		prefix = "/api/v1/experiments/{"
	case "stream":
		prefix = "/api/v1/streams/{"
	default:
		return errors.New("unknown topic: want experiments, experiment:<id>, alerts, stream:<id> or agents")
	}
	rt, ok := g.objectRoute(prefix)
	if !ok {
		if p.Admin() {
			return nil
		}
		return errTopic
	}
	names := paramNames(rt.Pattern)
	path := strings.Replace(rt.Pattern, "{"+names[0]+"}", id, 1)
	req := apiv1.Request{Method: "GET", Path: path, Params: map[string]string{names[0]: id}, Principal: p}
	cctx, cancel := context.WithTimeout(ctx, g.s.Config.API.ServiceTimout)
	defer cancel()
	if _, _, err := g.s.Bus.RequestRaw(cctx, rt.Subject, req); err != nil {
		// As when no route exists: with the owning service not running in
		// this deployment (no responders), admins may still subscribe.
		if pe := problem.From(err); p.Admin() && pe != nil && pe.Status == http.StatusServiceUnavailable {
			return nil
		}
		return errTopic
	}
	return nil
}

// objectRoute finds the forwarded GET route that reads one object under
// prefix (the shortest pattern with exactly one path parameter).
func (g *Gateway) objectRoute(prefix string) (Route, bool) {
	var best Route
	found := false
	for _, rt := range g.routes {
		if rt.Forward == nil || rt.Method != "GET" || !strings.HasPrefix(rt.Pattern, prefix) || len(paramNames(rt.Pattern)) != 1 {
			continue
		}
		if !found || len(rt.Pattern) < len(best.Pattern) {
			best, found = *rt.Forward, true
		}
	}
	return best, found
}

// parseFrame decodes a client frame strictly.
func parseFrame(data []byte) (wsIn, error) {
	var in wsIn
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return wsIn{}, errors.New(`malformed frame: want {"op": "subscribe"|"unsubscribe", "topic": ...}`)
	}
	if len(in.Topic) > 200 {
		return wsIn{}, errors.New("topic too long")
	}
	return in, nil
}
