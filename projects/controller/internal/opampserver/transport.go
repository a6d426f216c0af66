package opampserver

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
	"google.golang.org/protobuf/proto"
)

// The listener's limits when Settings leaves them zero.
const (
	// DefaultMaxMessageBytes bounds one AgentToServer message (a WebSocket
	// message or a plain HTTP body, after gunzip). A message carries at most
	// the agent's effective config, a few KiB to a few hundred KiB; before
	// the bound, one 256 MB frame took the controller from 309 MB to 1 GB.
	DefaultMaxMessageBytes = 4 << 20
	// DefaultMaxUnauthenticated bounds connections that have not
	// authenticated yet (an agent does so with its first request, within
	// milliseconds), so idle sockets cannot exhaust the process's files.
	DefaultMaxUnauthenticated = 1024
	// DefaultHeaderTimeout is how long a connection may take to send its
	// request headers, as on :8080 and :4318.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a WebSocket from which nothing (message or
	// pong) arrived for this long; the server pings every third of it, so
	// a live agent answers even between its 30 s heartbeats.
	DefaultIdleTimeout = 90 * time.Second
)

// sendTimeout bounds one write to an agent, so a stalled agent cannot hold
// Deploy or its own read loop forever.
const sendTimeout = 10 * time.Second

// limits are Settings' limits with the defaults applied.
type limits struct {
	maxMessage    int64
	maxUnauth     int
	headerTimeout time.Duration
	idle          time.Duration
}

func (set Settings) limits() limits {
	l := limits{maxMessage: set.MaxMessageBytes, maxUnauth: set.MaxUnauthenticated,
		headerTimeout: set.HeaderTimeout, idle: set.IdleTimeout}
	if l.maxMessage <= 0 {
		l.maxMessage = DefaultMaxMessageBytes
	}
	if l.maxUnauth <= 0 {
		l.maxUnauth = DefaultMaxUnauthenticated
	}
	if l.headerTimeout <= 0 {
		l.headerTimeout = DefaultHeaderTimeout
	}
	if l.idle <= 0 {
		l.idle = DefaultIdleTimeout
	}
	return l
}

// handler serves Path. Plain HTTP requests go to opamp-go's handler with
// their body bounded; WebSockets are served here, because opamp-go's
// upgrader sets no read limit and its read loop no deadline.
func (s *Server) handler(plain server.HTTPHandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == "application/x-protobuf" {
			s.limitBody(w, r)
			plain(w, r)
			return
		}
		s.serveWebSocket(w, r)
	})
}

// limitBody bounds a plain HTTP message, before and after gunzip (opamp-go
// reads and inflates the whole body with io.ReadAll). opamp-go answers 400
// when the body cannot be read.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) {
	max := s.lim.maxMessage
	body := http.MaxBytesReader(w, r.Body, max)
	if r.Header.Get("Content-Encoding") != "gzip" {
		r.Body = body
		return
	}
	r.Header.Del("Content-Encoding")
	r.Body = &gunzipBody{raw: body, max: max}
}

// gunzipBody inflates lazily (after authentication) and fails past max
// bytes instead of inflating a bomb.
type gunzipBody struct {
	raw  io.ReadCloser
	max  int64
	zr   *gzip.Reader
	read int64
}

func (b *gunzipBody) Read(p []byte) (int, error) {
	if b.zr == nil {
		zr, err := gzip.NewReader(b.raw)
		if err != nil {
			return 0, fmt.Errorf("gunzip opamp message: %w", err)
		}
		b.zr = zr
	}
	n, err := b.zr.Read(p)
	if b.read += int64(n); b.read > b.max {
		return 0, fmt.Errorf("opamp message over %d bytes after gunzip", b.max)
	}
	return n, err
}

func (b *gunzipBody) Close() error { return b.raw.Close() }

// serveWebSocket authenticates, upgrades and runs the read loop with the
// read limit set: gorilla checks it against each frame's header, so an
// oversized message is refused (close 1009) before its payload is read.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	resp := s.onConnecting(r)
	if !resp.Accept {
		for k, v := range resp.HTTPResponseHeader {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.HTTPStatusCode)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: s.lim.headerTimeout}
	ws, err := up.Upgrade(w, r, nil) // answers the client itself on failure
	if err != nil {
		s.set.Logger.Debug("opamp websocket upgrade", "remote_addr", r.RemoteAddr, "error", err)
		return
	}
	ws.SetReadLimit(s.lim.maxMessage)
	// The handler returns now, releasing its stack; the loop owns ws.
	go s.readLoop(ws, resp.ConnectionCallbacks)
}

// readLoop is opamp-go's WebSocket loop with limits: messages over the
// read limit, and silence past the idle timeout, end the connection.
func (s *Server) readLoop(ws *websocket.Conn, cb types.ConnectionCallbacks) {
	cb.SetDefaults()
	conn := &wsConn{ws: ws}
	stopPing := make(chan struct{})
	defer func() {
		close(stopPing)
		cb.OnConnectionClose(conn)
		_ = conn.Disconnect()
	}()
	ctx := context.Background() // the request's context ended with the upgrade
	cb.OnConnected(ctx, conn)
	idle := s.lim.idle
	alive := func(string) error { return ws.SetReadDeadline(time.Now().Add(idle)) }
	_ = alive("")
	ws.SetPongHandler(alive)
	go conn.ping(idle/3, stopPing)
	first := true
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.m.refused.WithLabelValues("message_too_large").Inc()
				s.set.Logger.Warn("agent message over the limit; connection closed",
					"remote_addr", ws.RemoteAddr().String(), "limit_bytes", s.lim.maxMessage)
			}
			return
		}
		_ = alive("")
		if mt != websocket.BinaryMessage {
			continue // as opamp-go: not an OpAMP message, skipped
		}
		var msg protobufs.AgentToServer
		if err := decodeWSMessage(data, &msg); err != nil {
			s.set.Logger.Debug("decode agent message", "remote_addr", ws.RemoteAddr().String(), "error", err)
			continue
		}
		resp := cb.OnMessage(ctx, conn, &msg)
		if resp == nil {
			continue
		}
		if len(resp.InstanceUid) == 0 {
			resp.InstanceUid = msg.InstanceUid
		}
		if first {
			// As opamp-go: the first answer states the server's custom
			// capabilities (none).
			resp.CustomCapabilities = &protobufs.CustomCapabilities{}
			first = false
		}
		if err := conn.Send(ctx, resp); err != nil {
			s.set.Logger.Debug("send to agent", "remote_addr", ws.RemoteAddr().String(), "error", err)
			return // a connection we cannot write to is dropped; the agent reconnects
		}
	}
}

// decodeWSMessage decodes OpAMP's WebSocket framing: an optional varint
// header, which must be zero, then the protobuf message.
func decodeWSMessage(b []byte, msg proto.Message) error {
	if len(b) > 0 && b[0] == 0 {
		h, n := binary.Uvarint(b)
		if h != 0 || n <= 0 {
			return errors.New("unexpected non-zero header")
		}
		b = b[n:]
	}
	if err := proto.Unmarshal(b, msg); err != nil {
		return fmt.Errorf("decode AgentToServer: %w", err)
	}
	return nil
}

// wsConn is an agent's WebSocket as opamp-go's Connection.
type wsConn struct {
	ws     *websocket.Conn
	mu     sync.Mutex // gorilla allows one writer at a time
	closed atomic.Bool
}

var _ types.Connection = (*wsConn)(nil)

func (c *wsConn) Connection() net.Conn { return c.ws.UnderlyingConn() }

// Send writes one ServerToAgent (header byte 0, then the protobuf) within
// sendTimeout or ctx's deadline, whichever is sooner.
func (c *wsConn) Send(ctx context.Context, msg *protobufs.ServerToAgent) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("marshal ServerToAgent: %w", err)
	}
	deadline := time.Now().Add(sendTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(deadline)
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return fmt.Errorf("write to agent: %w", err)
	}
	if _, err := w.Write(append([]byte{0}, data...)); err != nil {
		_ = w.Close()
		return fmt.Errorf("write to agent: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write to agent: %w", err)
	}
	return nil
}

// Disconnect closes the socket once; the read loop then ends.
func (c *wsConn) Disconnect() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	return c.ws.Close()
}

// ping keeps a quiet but live agent's connection open: the agent's
// WebSocket library answers with a pong, which moves the read deadline.
// WriteControl may run beside Send.
func (c *wsConn) ping(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(sendTimeout)); err != nil {
				return
			}
		}
	}
}
