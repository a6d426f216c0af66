// Package opampserver is the control plane's OpAMP endpoint
// (ws://host:4320/v1/opamp): it authenticates agents, records what they
// report (identity, labels, health, effective config, remote config status)
// in the fleet store, publishes agent events, and pushes each agent's
// desired config.
package opampserver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// Path is where agents connect.
const Path = "/v1/opamp"

// ConfigFileName is the single file of every remote and effective config map.
const ConfigFileName = "collector.yaml"

// maxConnections bounds concurrent agent sessions; more are refused with 503.
const maxConnections = 10000

// Authenticator resolves an agent's bearer token.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (apiv1.Principal, error)
}

// Publisher publishes fleet events (messaging.Bus implements it).
type Publisher interface {
	PublishEvent(ctx context.Context, kind, id, typ string, data any) error
}

// Settings configures the server.
type Settings struct {
	Addr   string // listen address, e.g. ":4320"
	Open   bool   // accept agents without a token (development)
	Repo   *fleet.Repo
	Auth   Authenticator // required unless Open
	Events Publisher     // may be nil
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil skips them.
	Registerer prometheus.Registerer

	// Listener limits; zero takes the Default* value.
	MaxMessageBytes    int64         // largest AgentToServer message
	MaxUnauthenticated int           // connections not authenticated yet; more are closed at accept
	HeaderTimeout      time.Duration // to send request headers
	IdleTimeout        time.Duration // WebSocket silence (no message, no pong) before it is closed
}

// metrics count per-connection and per-message events (never logged per item).
type metrics struct {
	connections prometheus.Gauge
	messages    prometheus.Counter
	refused     *prometheus.CounterVec
	outcomes    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phoenix_opamp_connections", Help: "Open agent connections."}),
		messages:    prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_opamp_messages_total", Help: "AgentToServer messages received."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_opamp_refused_connections_total",
			Help: "Agent connections refused, by reason."}, []string{"reason"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_fleet_remote_config_reports_total",
			Help: "Remote config outcomes reported by agents (status changes), by status."}, []string{"status"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.messages, m.refused, m.outcomes} {
			// A second server on the same registry (tests restart the
			// controller in one process) keeps counting on its own collectors.
			_ = reg.Register(c)
		}
	}
	return m
}

// Server is a running OpAMP server.
type Server struct {
	set     Settings
	lim     limits
	srv     server.OpAMPServer
	http    *httpx.Server // nil until Start
	m       *metrics
	mu      sync.Mutex
	byID    map[string]*session
	byConn  map[types.Connection]*session
	open    sync.WaitGroup // connections whose close is not recorded yet
	stopped bool
}

// session is one agent connection. OpAMP never calls a connection's
// callbacks concurrently; mu guards the state against Deploy.
type session struct {
	principal apiv1.Principal
	conn      types.Connection
	mu        sync.Mutex
	agent     *fleet.Agent // nil until the first message
	sentHash  string       // remote config hash last sent on this connection
}

// New prepares a server; Start listens.
func New(set Settings) *Server {
	return &Server{
		set: set, lim: set.limits(), byID: map[string]*session{}, byConn: map[types.Connection]*session{}, m: newMetrics(set.Registerer),
		srv: server.New(&logAdapter{l: set.Logger}),
	}
}

// Start listens on the configured address. The listener is Phoenix's own
// (httpx, with its timeouts and the unauthenticated cap); opamp-go serves
// only plain HTTP requests on it.
func (s *Server) Start() error {
	plain, connContext, err := s.srv.Attach(server.Settings{Callbacks: types.Callbacks{OnConnecting: s.onConnecting}})
	if err != nil {
		return fmt.Errorf("attach opamp server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, s.handler(plain))
	hs, err := httpx.Listen(s.set.Addr, mux, s.set.Logger)
	if err != nil {
		return fmt.Errorf("start opamp server: %w", err)
	}
	h := hs.HTTPServer()
	h.ReadHeaderTimeout = s.lim.headerTimeout
	h.ConnContext = connContext // opamp-go finds a plain request's connection through it
	hs.LimitUnauthenticated(s.lim.maxUnauth, func() { s.m.refused.WithLabelValues("too_many_unauthenticated").Inc() })
	hs.Start()
	s.http = hs
	return nil
}

// Addr is the listening address (tests listen on port 0); nil before Start.
func (s *Server) Addr() net.Addr {
	if s.http == nil {
		return nil
	}
	a, err := net.ResolveTCPAddr("tcp", s.http.Addr())
	if err != nil {
		return nil
	}
	return a
}

// Stop closes the listener and every connection (http.Server leaves
// hijacked WebSockets alone), and waits until each connection's close is recorded.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.mu.Lock()
	s.stopped = true
	conns := make([]types.Connection, 0, len(s.byConn))
	for c := range s.byConn {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Disconnect()
	}
	done := make(chan struct{})
	go func() {
		s.open.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("wait for agent connections to close: %w", ctx.Err()))
	}
	return err
}

// Connected reports whether the agent has a live connection here.
func (s *Server) Connected(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[id]
	return ok
}

func (s *Server) onConnecting(r *http.Request) types.ConnectionResponse {
	p := apiv1.Principal{Subject: "anonymous", Kind: "anonymous", Role: "admin"}
	if !s.set.Open {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			s.m.refused.WithLabelValues("unauthorized").Inc()
			return types.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusUnauthorized,
				HTTPResponseHeader: map[string]string{"WWW-Authenticate": "Bearer"}}
		}
		var err error
		p, err = s.set.Auth.Authenticate(r.Context(), token)
		if err != nil {
			status, reason := problem.From(err).Status, "auth_unavailable"
			if status != http.StatusServiceUnavailable {
				status, reason = http.StatusUnauthorized, "unauthorized"
			}
			s.m.refused.WithLabelValues(reason).Inc()
			// Counted in phoenix_opamp_refused_connections_total; a refused
			// agent retries every few seconds, so this stays at debug.
			s.set.Logger.Debug("agent refused", "remote_addr", r.RemoteAddr, "error", err)
			return types.ConnectionResponse{Accept: false, HTTPStatusCode: status,
				HTTPResponseHeader: map[string]string{"Retry-After": "5"}}
		}
	}
	s.mu.Lock()
	n := len(s.byConn)
	s.mu.Unlock()
	if n >= maxConnections {
		s.m.refused.WithLabelValues("too_many_connections").Inc()
		return types.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusServiceUnavailable,
			HTTPResponseHeader: map[string]string{"Retry-After": "30"}}
	}
	httpx.Authenticated(r.Context()) // its slot among unauthenticated connections is free again
	sess := &session{principal: p}
	return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
		OnConnected: func(_ context.Context, conn types.Connection) {
			sess.conn = conn
			s.mu.Lock()
			stopped := s.stopped
			if !stopped {
				s.byConn[conn] = sess
				s.open.Add(1)
				s.m.connections.Inc()
			}
			s.mu.Unlock()
			if stopped {
				_ = conn.Disconnect()
			}
		},
		OnMessage: func(ctx context.Context, _ types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
			return s.onMessage(ctx, sess, msg)
		},
		OnConnectionClose: func(conn types.Connection) { s.onClose(conn) },
	}}
}

// AgentID is the fleet id of an OpAMP instance uid: its UUID text form.
func AgentID(uid []byte) (string, error) {
	id, err := uuid.FromBytes(uid)
	if err != nil {
		return "", fmt.Errorf("instance_uid must be 16 bytes, got %d", len(uid))
	}
	return id.String(), nil
}

func (s *Server) onMessage(ctx context.Context, sess *session, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	s.m.messages.Inc()
	resp := &protobufs.ServerToAgent{InstanceUid: msg.InstanceUid}
	id, err := AgentID(msg.InstanceUid)
	if err != nil {
		resp.ErrorResponse = &protobufs.ServerErrorResponse{Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: err.Error()}
		return resp
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	now := time.Now().UTC()
	first := sess.agent == nil || sess.agent.ID != id
	if first {
		a, err := s.set.Repo.GetAgent(ctx, id)
		switch {
		case errors.Is(err, database.ErrNotFound):
			a = &fleet.Agent{ID: id, FirstSeen: now}
		case err != nil:
			s.set.Logger.Error("load agent", "agent_id", id, "error", err)
			resp.ErrorResponse = &protobufs.ServerErrorResponse{Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable, ErrorMessage: "fleet store unavailable"}
			return resp
		}
		if a.Team != "" && !mayOwn(sess.principal, a.Team) {
			// A key of another team must not take over a known agent.
			resp.ErrorResponse = &protobufs.ServerErrorResponse{Type: protobufs.ServerErrorResponseType_ServerErrorResponseType_BadRequest, ErrorMessage: "agent belongs to another team"}
			return resp
		}
		sess.agent = a
		s.mu.Lock()
		if old, ok := s.byID[id]; ok && old != sess && old.conn != nil {
			_ = old.conn.Disconnect() // the agent reconnected; the old socket is stale
		}
		s.byID[id] = sess
		s.mu.Unlock()
		if msg.AgentDescription == nil {
			// We hold no state for this agent (e.g. the controller restarted
			// while the agent only sent a heartbeat): ask for everything.
			resp.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
		}
	}
	a := sess.agent
	before := *a
	a.Connected, a.LastSeen = true, now
	applyReport(a, msg)
	a.Team = teamOf(sess.principal, a.Labels, a.Team)
	if first || reported(&before, a) {
		if err := s.set.Repo.SaveAgent(ctx, a); err != nil {
			s.set.Logger.Error("save agent", "agent_id", id, "error", err)
		}
	} else if err := s.set.Repo.Touch(ctx, id, now); err != nil {
		// A heartbeat only moves last_seen: no need to rewrite the config.
		s.set.Logger.Error("record heartbeat", "agent_id", id, "error", err)
	}

	// The desired config is read from the store on each message so a push
	// made by any controller instance reaches the agent.
	desired, err := s.set.Repo.Desired(ctx, id)
	if err != nil {
		s.set.Logger.Error("load desired deployment", "agent_id", id, "error", err)
	}
	if desired != nil {
		a.DeploymentID, a.PipelineID, a.PipelineVersion = desired.ID, desired.PipelineID, desired.PipelineVersion
	}
	if desired != nil {
		// Any message settles the deployment: an agent that already ran this
		// exact config does not report its (unchanged) status again.
		if a.RemoteConfigHash == desired.ConfigHash && a.RemoteConfigStatus != desired.Status &&
			a.RemoteConfigStatus != "" {
			if err := s.set.Repo.SetDeploymentStatus(ctx, desired.ID, a.RemoteConfigStatus, a.RemoteConfigError, now); err != nil {
				s.set.Logger.Error("record deployment status", "deployment_id", desired.ID, "error", err)
			}
		}
		if a.RemoteConfigHash != desired.ConfigHash && sess.sentHash != desired.ConfigHash {
			rc, err := RemoteConfig(desired)
			if err == nil {
				resp.RemoteConfig = rc
				sess.sentHash = desired.ConfigHash
			}
		}
	}
	s.publishChanges(ctx, &before, a, first)
	return resp
}

// reported says whether a message changed anything but last_seen.
func reported(b, a *fleet.Agent) bool {
	if (b.Healthy == nil) != (a.Healthy == nil) || b.Healthy != nil && *b.Healthy != *a.Healthy {
		return true
	}
	if len(b.Labels) != len(a.Labels) {
		return true
	}
	for k, v := range a.Labels {
		if bv, ok := b.Labels[k]; !ok || bv != v {
			return true
		}
	}
	return b.Connected != a.Connected || b.Team != a.Team || b.Hostname != a.Hostname || b.AgentVersion != a.AgentVersion ||
		b.HealthStatus != a.HealthStatus || b.LastError != a.LastError || b.EffectiveConfigHash != a.EffectiveConfigHash ||
		b.EffectiveConfig != a.EffectiveConfig || b.RemoteConfigStatus != a.RemoteConfigStatus ||
		b.RemoteConfigHash != a.RemoteConfigHash || b.RemoteConfigError != a.RemoteConfigError
}

// applyReport merges one AgentToServer message into the agent. OpAMP
// agents send only what changed, so absent fields keep their value.
func applyReport(a *fleet.Agent, msg *protobufs.AgentToServer) {
	if d := msg.AgentDescription; d != nil {
		labels := map[string]string{}
		for _, kv := range d.IdentifyingAttributes {
			switch kv.Key {
			case "host.name":
				a.Hostname = kv.GetValue().GetStringValue()
			case "service.version":
				a.AgentVersion = kv.GetValue().GetStringValue()
			}
		}
		for _, kv := range d.NonIdentifyingAttributes {
			if len(labels) >= 64 {
				break // labels are for people and selectors; a flood of them is refused
			}
			labels[kv.Key] = kv.GetValue().GetStringValue()
		}
		if h, ok := labels["host.name"]; ok && a.Hostname == "" {
			a.Hostname = h
		}
		a.Labels = labels
	}
	if h := msg.Health; h != nil {
		healthy := h.Healthy
		a.Healthy, a.HealthyUnknown = &healthy, ""
		a.HealthStatus, a.LastError = h.Status, h.LastError
	}
	if ec := msg.EffectiveConfig; ec != nil {
		body := configBody(ec.GetConfigMap())
		a.EffectiveConfig = string(body)
		a.EffectiveConfigHash = ""
		if len(body) > 0 {
			a.EffectiveConfigHash = fleet.Hash(body)
		}
	}
	if rs := msg.RemoteConfigStatus; rs != nil {
		a.RemoteConfigHash = hex.EncodeToString(rs.LastRemoteConfigHash)
		a.RemoteConfigError = rs.ErrorMessage
		switch rs.Status {
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED:
			a.RemoteConfigStatus = fleet.StatusApplied
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING:
			a.RemoteConfigStatus = fleet.StatusApplying
		case protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED:
			a.RemoteConfigStatus = fleet.StatusFailed
		default:
			a.RemoteConfigStatus = ""
		}
	}
}

// configBody returns the collector file of a config map (the one named
// ConfigFileName, else the only one).
func configBody(m *protobufs.AgentConfigMap) []byte {
	if m == nil {
		return nil
	}
	if f, ok := m.ConfigMap[ConfigFileName]; ok {
		return f.Body
	}
	for _, f := range m.ConfigMap {
		return f.Body
	}
	return nil
}

// mayOwn reports whether an agent connecting as p may be (or stay) in team:
// its own teams, or "default" for a key bound to no team.
func mayOwn(p apiv1.Principal, team string) bool {
	return p.InTeam(team) || len(p.Teams) == 0 && team == fleet.DefaultTeam
}

// teamOf decides the agent's team: a key bound to teams enrolls into its
// own team (a "team" label may pick one of them); open servers and admins
// take the label; otherwise the team stays, or is "default".
func teamOf(p apiv1.Principal, labels map[string]string, current string) string {
	if t := labels["team"]; t != "" && p.InTeam(t) {
		return t
	}
	if current != "" {
		return current
	}
	if len(p.Teams) > 0 {
		return p.Teams[0]
	}
	return fleet.DefaultTeam
}

// RemoteConfig is the OpAMP message for a deployment.
func RemoteConfig(d *fleet.Deployment) (*protobufs.AgentRemoteConfig, error) {
	hash, err := hex.DecodeString(d.ConfigHash)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: bad config hash: %w", d.ID, err)
	}
	return &protobufs.AgentRemoteConfig{
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			ConfigFileName: {Body: []byte(d.Config), ContentType: "text/yaml"},
		}},
		ConfigHash: hash,
	}, nil
}

// Deploy sends a recorded deployment to the agent when it is connected here;
// a disconnected agent gets it when it reconnects.
func (s *Server) Deploy(ctx context.Context, d *fleet.Deployment) (bool, error) {
	s.mu.Lock()
	sess, ok := s.byID[d.AgentID]
	s.mu.Unlock()
	if !ok || sess.conn == nil {
		return false, nil
	}
	rc, err := RemoteConfig(d)
	if err != nil {
		return false, err
	}
	uid, err := uuid.Parse(d.AgentID)
	if err != nil {
		return false, fmt.Errorf("agent id %s: %w", d.AgentID, err)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if err := sess.conn.Send(ctx, &protobufs.ServerToAgent{InstanceUid: uid[:], RemoteConfig: rc}); err != nil {
		return false, fmt.Errorf("send config to agent %s: %w", d.AgentID, err)
	}
	sess.sentHash = d.ConfigHash
	if a := sess.agent; a != nil && a.RemoteConfigHash == d.ConfigHash &&
		(a.RemoteConfigStatus == fleet.StatusApplied || a.RemoteConfigStatus == fleet.StatusFailed) {
		// The agent already decided these exact bytes and will not report
		// again: record its answer now.
		if err := s.set.Repo.SetDeploymentStatus(ctx, d.ID, a.RemoteConfigStatus, a.RemoteConfigError, time.Now().UTC()); err != nil {
			return true, err
		}
		d.Status, d.Error = a.RemoteConfigStatus, a.RemoteConfigError
	}
	return true, nil
}

func (s *Server) onClose(conn types.Connection) {
	s.mu.Lock()
	sess, ok := s.byConn[conn]
	if !ok {
		s.mu.Unlock()
		return
	}
	defer s.open.Done()
	s.m.connections.Dec()
	delete(s.byConn, conn)
	if ok && sess.agent != nil && s.byID[sess.agent.ID] == sess {
		delete(s.byID, sess.agent.ID)
	} else {
		ok = false // never identified, or replaced by a newer connection
	}
	s.mu.Unlock()
	if !ok {
		return
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := sess.agent
	a.Connected = false
	if err := s.set.Repo.SaveAgent(ctx, a); err != nil {
		s.set.Logger.Error("save agent", "agent_id", a.ID, "error", err)
	}
	s.set.Logger.Info("agent disconnected", "agent_id", a.ID)
	s.publish(ctx, a.ID, "disconnected", summary(a))
}

// publishChanges emits one event per kind of change an agent reported.
func (s *Server) publishChanges(ctx context.Context, before, after *fleet.Agent, connected bool) {
	if connected {
		s.set.Logger.Info("agent connected", "agent_id", after.ID, "hostname", after.Hostname, "team", after.Team)
		s.publish(ctx, after.ID, "connected", summary(after))
	}
	if (before.Healthy == nil) != (after.Healthy == nil) || before.Healthy != nil && after.Healthy != nil && *before.Healthy != *after.Healthy {
		s.publish(ctx, after.ID, "health_changed", summary(after))
	}
	if before.EffectiveConfigHash != after.EffectiveConfigHash {
		s.publish(ctx, after.ID, "effective_config_changed", summary(after))
	}
	if before.RemoteConfigStatus != after.RemoteConfigStatus || before.RemoteConfigHash != after.RemoteConfigHash {
		if after.RemoteConfigStatus != "" {
			s.m.outcomes.WithLabelValues(after.RemoteConfigStatus).Inc()
		}
		switch after.RemoteConfigStatus {
		case fleet.StatusApplied:
			s.publish(ctx, after.ID, "config_applied", summary(after))
		case fleet.StatusFailed:
			s.set.Logger.Warn("agent rejected config", "agent_id", after.ID, "error", after.RemoteConfigError)
			s.publish(ctx, after.ID, "config_failed", summary(after))
		}
	}
}

func (s *Server) publish(ctx context.Context, id, typ string, data any) {
	if s.set.Events == nil {
		return
	}
	if err := s.set.Events.PublishEvent(ctx, messaging.KindAgent, id, typ, data); err != nil {
		s.set.Logger.Warn("publish agent event", "agent_id", id, "event", typ, "error", err)
	}
}

// summary is the event payload: the agent without its config body.
func summary(a *fleet.Agent) fleet.Agent {
	c := *a
	c.EffectiveConfig = ""
	return c
}

// logAdapter routes opamp-go's logs to slog.
type logAdapter struct{ l *slog.Logger }

func (l *logAdapter) Debugf(_ context.Context, format string, v ...any) {
	l.l.Debug("opamp", "detail", fmt.Sprintf(format, v...))
}

func (l *logAdapter) Errorf(_ context.Context, format string, v ...any) {
	l.l.Warn("opamp", "detail", fmt.Sprintf(format, v...))
}
