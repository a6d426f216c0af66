package opampserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/client"
	clienttypes "github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// tokenAuth accepts one token.
type tokenAuth struct{ token string }

func (a tokenAuth) Authenticate(_ context.Context, token string) (apiv1.Principal, error) {
	if token != a.token {
		return apiv1.Principal{}, problem.Unauthorized("unknown token")
	}
	return apiv1.Principal{Subject: "k1", Kind: "api_key", Role: "operator"}, nil
}

// startServer runs a server on a random port with a fleet store, stopped at
// the end of the test.
func startServer(t *testing.T, set Settings) *Server {
	t.Helper()
	ctx := context.Background()
	store, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	repo := fleet.NewRepo(store)
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	set.Addr, set.Repo = "127.0.0.1:0", repo
	if set.Registerer == nil {
		set.Registerer = prometheus.NewRegistry()
	}
	set.Logger = slog.New(slog.DiscardHandler)
	if set.Auth == nil {
		set.Auth = tokenAuth{token: "good"}
	}
	s := New(set)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// refusedCount reads phoenix_opamp_refused_connections_total{reason}.
func refusedCount(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	mfs, err := s.set.Registerer.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "phoenix_opamp_refused_connections_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func dialAgent(t *testing.T, s *Server, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+s.Addr().String()+Path, h)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// exchange sends one AgentToServer in OpAMP's WebSocket framing and reads
// the answer.
func exchange(t *testing.T, ws *websocket.Conn, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, append([]byte{0}, data...)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, b, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage {
		t.Fatalf("read answer: type %d, %v", mt, err)
	}
	var resp protobufs.ServerToAgent
	if err := decodeWSMessage(b, &resp); err != nil {
		t.Fatal(err)
	}
	return &resp
}

// TestWebSocketAgent: an agent with a good token is served over the
// WebSocket loop (the answer carries its uid, the store records it); a bad
// token is refused before the upgrade.
func TestWebSocketAgent(t *testing.T) {
	s := startServer(t, Settings{})
	if _, resp, err := dialAgent(t, s, "bad"); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %v %v", resp, err)
	}
	ws, _, err := dialAgent(t, s, "good")
	if err != nil {
		t.Fatal(err)
	}
	uid := uuid.Must(uuid.NewV7())
	resp := exchange(t, ws, &protobufs.AgentToServer{InstanceUid: uid[:],
		AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", "h1")}}})
	if !bytes.Equal(resp.InstanceUid, uid[:]) || resp.ErrorResponse != nil || resp.CustomCapabilities == nil {
		t.Fatalf("answer: %v", resp)
	}
	if !s.Connected(uid.String()) {
		t.Fatal("agent not connected")
	}
	a, err := s.set.Repo.GetAgent(context.Background(), uid.String())
	if err != nil || a.Hostname != "h1" {
		t.Fatalf("stored agent: %+v %v", a, err)
	}
	if resp := exchange(t, ws, &protobufs.AgentToServer{InstanceUid: uid[:], SequenceNum: 2}); resp.CustomCapabilities != nil {
		t.Fatal("custom capabilities sent twice")
	}
}

// TestMessageOverLimit: a message over MaxMessageBytes closes the
// connection with 1009 before its payload is read. The client streams 64
// MiB; without the limit the server would buffer all of it (and, for the
// single frame claiming 256 MiB, wait for the rest), so the allocation
// bound fails the test.
func TestMessageOverLimit(t *testing.T) {
	const limit, sent = 1 << 20, 64 << 20
	chunk := make([]byte, 1<<20)
	tests := []struct {
		name  string
		write func(ws *websocket.Conn) error
	}{
		{"one frame claiming 256 MiB", func(ws *websocket.Conn) error {
			// FIN+binary, masked, 64-bit length, mask key 0 (payload unchanged).
			hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint64(hdr[2:10], 256<<20)
			c := ws.UnderlyingConn()
			if _, err := c.Write(hdr); err != nil {
				return err
			}
			for range sent / len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return err
				}
			}
			return nil
		}},
		{"one message in 4 KiB fragments", func(ws *websocket.Conn) error {
			w, err := ws.NextWriter(websocket.BinaryMessage)
			if err != nil {
				return err
			}
			for range sent / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
			return w.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Settings{MaxMessageBytes: limit})
			ws, _, err := dialAgent(t, s, "good")
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			wrote := make(chan error, 1)
			go func() { wrote <- tt.write(ws) }()
			_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, _, err = ws.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
				t.Fatalf("read after oversized message: %v, want close 1009", err)
			}
			if err := <-wrote; err == nil {
				t.Error("the server read all 64 MiB")
			}
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
				t.Errorf("allocated %d MiB for a refused message, want under 16", d>>20)
			}
			// The server counts after gorilla has sent the close frame.
			for deadline := time.Now().Add(5 * time.Second); refusedCount(t, s, "message_too_large") != 1; {
				if time.Now().After(deadline) {
					t.Fatalf("message_too_large counted %v times, want 1", refusedCount(t, s, "message_too_large"))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestPlainHTTPBodyLimit: the plain HTTP transport refuses bodies over the
// limit, before and after gunzip, and still serves a normal message.
func TestPlainHTTPBodyLimit(t *testing.T) {
	const limit = 64 << 10
	s := startServer(t, Settings{MaxMessageBytes: limit})
	uid := uuid.Must(uuid.NewV7())
	msg, err := proto.Marshal(&protobufs.AgentToServer{InstanceUid: uid[:]})
	if err != nil {
		t.Fatal(err)
	}
	big, err := proto.Marshal(&protobufs.AgentToServer{InstanceUid: uid[:],
		Health: &protobufs.ComponentHealth{LastError: string(make([]byte, 4*limit))}})
	if err != nil {
		t.Fatal(err)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		body []byte
		gzip bool
		want int
	}{
		{"small message", msg, false, http.StatusOK},
		{"small gzipped message", gz(msg), true, http.StatusOK},
		{"body over the limit", big, false, http.StatusBadRequest},
		{"gzip inflating past the limit", gz(big), true, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.gzip && len(tt.body) >= limit {
				t.Fatalf("test input: compressed body %d bytes is not under the limit", len(tt.body))
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr().String()+Path, bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Authorization", "Bearer good")
			if tt.gzip {
				req.Header.Set("Content-Encoding", "gzip")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c) // returns nil at EOF
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestHalfOpenConnectionsClosed: sockets that send nothing, or never finish
// their headers, are closed at the header timeout.
func TestHalfOpenConnectionsClosed(t *testing.T) {
	s := startServer(t, Settings{HeaderTimeout: 300 * time.Millisecond})
	for _, sendFirst := range []string{"", "GET /v1/opamp HTTP/1.1\r\nHost: x\r\n"} {
		var conns []net.Conn
		for range 20 {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, sendFirst); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			if !closedWithin(c, 5*time.Second) {
				t.Fatalf("connection %d (sent %q) still open after 5 s", i, sendFirst)
			}
		}
	}
}

// TestUnauthenticatedCap: connections that have not authenticated hold
// one of MaxUnauthenticated slots; the next is closed at accept. Agents
// that authenticated hold none, and a closed socket frees its slot.
func TestUnauthenticatedCap(t *testing.T) {
	const max = 4
	s := startServer(t, Settings{MaxUnauthenticated: max, HeaderTimeout: time.Minute})
	for i := range max + 2 { // authenticated agents do not count
		if _, _, err := dialAgent(t, s, "good"); err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	idle := make([]net.Conn, max)
	for i := range idle {
		idle[i] = dial()
	}
	if !closedWithin(dial(), 5*time.Second) {
		t.Fatal("a connection over the unauthenticated cap was kept open")
	}
	for i, c := range idle {
		if closedWithin(c, 50*time.Millisecond) {
			t.Fatalf("idle connection %d within the cap was closed", i)
		}
	}
	if _, resp, err := dialAgent(t, s, "good"); err == nil || resp != nil {
		t.Fatalf("an agent got through a full cap: %v %v", resp, err)
	}
	if n := refusedCount(t, s, "too_many_unauthenticated"); n != 2 {
		t.Errorf("too_many_unauthenticated counted %v times, want 2", n)
	}
	idle[0].Close()
	// The freed slot is reused once the server sees the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := dialAgent(t, s, "good")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed by a close: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOpAMPGoClient: opamp-go's own WebSocket client (what the Phoenix
// agent runs) works with this server's read loop: it connects, is recorded,
// receives a pushed config, and with heartbeats off stays connected across
// several idle timeouts because it answers the server's pings.
func TestOpAMPGoClient(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := startServer(t, Settings{IdleTimeout: idle})
	uid := uuid.Must(uuid.NewV7())
	var connects atomic.Int32
	configs := make(chan *protobufs.AgentRemoteConfig, 1)
	c := client.NewWebSocket(nil)
	if err := c.SetAgentDescription(&protobufs.AgentDescription{
		IdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", "h1")}}); err != nil {
		t.Fatal(err)
	}
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	if err := c.SetCapabilities(&caps); err != nil {
		t.Fatal(err)
	}
	noHeartbeat := time.Duration(0)
	err := c.Start(context.Background(), clienttypes.StartSettings{
		OpAMPServerURL:    "ws://" + s.Addr().String() + Path,
		Header:            http.Header{"Authorization": {"Bearer good"}},
		InstanceUid:       clienttypes.InstanceUid(uid),
		HeartbeatInterval: &noHeartbeat,
		Callbacks: clienttypes.Callbacks{
			OnConnect: func(context.Context) { connects.Add(1) },
			OnMessage: func(_ context.Context, msg *clienttypes.MessageData) {
				if msg.RemoteConfig != nil {
					configs <- msg.RemoteConfig
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = c.Stop(context.Background())
		}
	}
	defer stop()
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Connected(uid.String()) }, "agent never connected")

	time.Sleep(4 * idle) // nothing but pings for four idle timeouts
	if !s.Connected(uid.String()) || connects.Load() != 1 {
		t.Fatalf("connected %v after %d connects: a live agent was cut for idleness", s.Connected(uid.String()), connects.Load())
	}

	cfg := "receivers: {}\n"
	sent, err := s.Deploy(context.Background(), &fleet.Deployment{ID: "d1", AgentID: uid.String(), Config: cfg, ConfigHash: fleet.Hash([]byte(cfg))})
	if err != nil || !sent {
		t.Fatalf("deploy: sent %v, %v", sent, err)
	}
	select {
	case rc := <-configs:
		if string(configBody(rc.Config)) != cfg {
			t.Fatalf("pushed config %q", configBody(rc.Config))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client never got the pushed config")
	}
	stop()
	testutil.Eventually(t, 10*time.Second, func() bool { return !s.Connected(uid.String()) }, "disconnect not recorded")
}
