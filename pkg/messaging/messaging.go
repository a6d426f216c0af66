// Package messaging connects Phoenix services over NATS: request/reply for
// service calls (nats.go's micro framework, so `$SRV.PING` discovers them)
// and a JetStream stream for events.
//
// By default the NATS server runs in-process with no TCP port (DontListen)
// and JetStream stored under the data dir; with a URL the same code connects
// to a real server. Only the connection differs.
package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// EventStream is the JetStream stream holding every event.
const EventStream = "PHOENIX_EVENTS"

// EventSubjectPrefix starts every event subject: phoenix.events.<kind>.<id>.
const EventSubjectPrefix = "phoenix.events."

// Event kinds (ARCHITECTURE.md).
const (
	KindRollup     = "rollup"
	KindExperiment = "experiment"
	KindAlert      = "alert"
	KindAgent      = "agent"
	KindPipeline   = "pipeline"
	KindAdaptive   = "adaptive" // the controller's adaptive decisions
	KindRollout    = "rollout"
)

// Settings says how to reach NATS.
type Settings struct {
	URL     string // empty: embedded server
	DataDir string // JetStream storage for the embedded server
	Name    string // client name, shown in server monitoring
	Logger  *slog.Logger
}

// Bus is a NATS connection with JetStream, plus the embedded server when
// there is one.
type Bus struct {
	Conn   *nats.Conn
	JS     jetstream.JetStream
	server *server.Server
	logger *slog.Logger
}

// Connect starts the embedded server (when URL is empty) and connects.
func Connect(ctx context.Context, s Settings) (*Bus, error) {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	b := &Bus{logger: s.Logger}
	opts := []nats.Option{
		nats.Name(s.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.Logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(_ *nats.Conn) { s.Logger.Info("nats reconnected") }),
	}
	url := s.URL
	if url == "" {
		srv, err := startEmbedded(s.DataDir)
		if err != nil {
			return nil, err
		}
		b.server = srv
		opts = append(opts, nats.InProcessServer(srv))
	} else {
		opts = append(opts, nats.Timeout(5*time.Second))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	b.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.JS = js
	if err := b.ensureEventStream(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func startEmbedded(dataDir string) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "phoenix-embedded",
		DontListen: true,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "nats"),
		NoSigs:     true,
		// Bounds: JetStream may use at most this much memory and disk.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  2 << 30,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return srv, nil
}

// ensureEventStream creates or updates the bounded event stream.
func (b *Bus) ensureEventStream(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := b.JS.CreateOrUpdateStream(cctx, jetstream.StreamConfig{
		Name:      EventStream,
		Subjects:  []string{EventSubjectPrefix + ">"},
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxAge:    24 * time.Hour,
		MaxBytes:  512 << 20,
		MaxMsgs:   1_000_000,
		Storage:   jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("create event stream %s: %w", EventStream, err)
	}
	return nil
}

// Embedded reports whether the NATS server runs in this process.
func (b *Bus) Embedded() bool { return b.server != nil }

// Ping checks the connection, for readiness.
func (b *Bus) Ping(ctx context.Context) error {
	if b.Conn == nil || !b.Conn.IsConnected() {
		return errors.New("nats: not connected")
	}
	deadline, ok := ctx.Deadline()
	timeout := 2 * time.Second
	if ok {
		timeout = time.Until(deadline)
	}
	return b.Conn.FlushTimeout(timeout)
}

// Close drains the connection and stops the embedded server.
func (b *Bus) Close() {
	if b.Conn != nil {
		_ = b.Conn.Drain()
		// Drain is asynchronous; wait (bounded) so in-flight replies go out.
		deadline := time.Now().Add(5 * time.Second)
		for !b.Conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.Conn.Close()
	}
	b.shutdownServer()
}

func (b *Bus) shutdownServer() {
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

// Event is the envelope of every event on PHOENIX_EVENTS.
type Event struct {
	Kind string          `json:"kind"`
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// EventSubject is phoenix.events.<kind>.<id>.
func EventSubject(kind, id string) string { return EventSubjectPrefix + kind + "." + id }

// PublishEvent stores an event in JetStream. typ says what happened
// (e.g. "created", "state_changed").
func (b *Bus) PublishEvent(ctx context.Context, kind, id, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	ev, err := json.Marshal(Event{Kind: kind, ID: id, Type: typ, Time: time.Now().UTC(), Data: raw})
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	if _, err := b.JS.Publish(ctx, EventSubject(kind, id), ev); err != nil {
		return fmt.Errorf("publish %s event: %w", kind, err)
	}
	return nil
}

// Request sends req as JSON to subject and decodes the reply into resp. A
// service error comes back as the *problem.Error the service returned.
func (b *Bus) Request(ctx context.Context, subject string, req, resp any) error {
	_, data, err := b.RequestRaw(ctx, subject, req)
	if err != nil {
		return err
	}
	if resp == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("decode reply from %s: %w", subject, err)
	}
	return nil
}

// RequestRaw sends req as JSON and returns the HTTP-style status the service
// chose (200 unless it returned a StatusReply) and the raw JSON answer.
func (b *Bus) RequestRaw(ctx context.Context, subject string, req any) (int, []byte, error) {
	var data []byte
	if req != nil {
		var err error
		if data, err = json.Marshal(req); err != nil {
			return 0, nil, fmt.Errorf("encode request to %s: %w", subject, err)
		}
	}
	msg, err := b.Conn.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return 0, nil, problem.Unavailable(time.Second, "service unavailable: %s", subject).Wrap(err)
		}
		return 0, nil, fmt.Errorf("request %s: %w", subject, err)
	}
	if code := msg.Header.Get(headerErrorCode); code != "" {
		p := problem.UnmarshalWire(msg.Data)
		if p.Status == http.StatusBadGateway {
			if n, err := strconv.Atoi(code); err == nil {
				p.Status = n
			}
		}
		return 0, nil, p
	}
	status := http.StatusOK
	if s := msg.Header.Get(headerStatus); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			status = n
		}
	}
	return status, msg.Data, nil
}
