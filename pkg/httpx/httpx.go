// Package httpx is Phoenix's HTTP server plumbing: a server with timeouts and
// graceful shutdown, and middleware for request IDs, structured access logs,
// panic recovery, body size limits, golden-signal metrics and problem+json
// errors.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
)

// Server wraps http.Server with a listener opened up front, so a port
// conflict fails start-up instead of a background goroutine.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	done    chan error
	logger  *slog.Logger
	started bool
}

// Listen opens addr and prepares a server with conservative timeouts.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln:     ln,
		done:   make(chan error, 1),
		logger: logger,
	}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves in the background.
func (s *Server) Start() {
	s.started = true
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
}

// maxDrainReserve bounds the part of the caller's shutdown budget that
// Shutdown leaves unused (a quarter of what remains, at most this).
const maxDrainReserve = 2 * time.Second

// Shutdown stops accepting and drains in-flight requests. Requests still
// running shortly before ctx's deadline (a client stalling its request body,
// say) are cut then by closing their connections: that is how a drain ends,
// not an error. The reserve leaves the caller's ctx alive for the rest of
// its shutdown; before it, one stalled client used the whole budget, so
// everything after it failed with "context deadline exceeded" and
// `phoenix server` exited 1 without recording its stop.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started {
		// Listen succeeded but start-up failed later: release the port.
		return s.ln.Close()
	}
	drain, cancel := drainContext(ctx)
	defer cancel()
	err := s.srv.Shutdown(drain)
	if err != nil {
		if drain.Err() != nil {
			s.logger.Warn("shutdown deadline reached; cutting requests still in flight", "addr", s.Addr())
			err = nil
		}
		if cerr := s.srv.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close connections of %s: %w", s.Addr(), cerr)
		}
	}
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}

// drainContext ends a reserve before ctx's deadline (see Shutdown).
func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := max(0, min(time.Until(dl)/4, maxDrainReserve))
	return context.WithDeadline(ctx, dl.Add(-reserve))
}

// HTTPServer exposes the underlying server for protocol tweaks (e.g. h2c).
func (s *Server) HTTPServer() *http.Server { return s.srv }

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the request's ID, set by the middleware.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// MetricsObserver records finished requests; telemetry.Metrics implements it.
type MetricsObserver interface {
	ObserveHTTP(route, method string, code int, d time.Duration)
}

// Middleware options.
type Options struct {
	Logger       *slog.Logger
	Metrics      MetricsObserver
	MaxBodyBytes int64
	// Route names the route for metrics; by default the mux pattern that matched.
	Route func(r *http.Request) string
	// SkipLog silences the access log for noisy paths (health probes).
	SkipLog func(r *http.Request) bool
}

// statusWriter remembers the status code and bytes written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// hijack for WebSocket).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Wrap applies request ID, recovery, body limit, metrics and access log.
func Wrap(next http.Handler, o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		if o.MaxBodyBytes > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		}
		sw := &statusWriter{ResponseWriter: w}
		// A span per request, joined to the caller's trace when it sent one;
		// a no-op unless tracing is configured.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := telemetry.Tracer().Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				o.Logger.Error("http handler panic", "request_id", id, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					problem.Write(sw, r.URL.Path, errors.New("panic"))
				}
			}
			d := time.Since(start)
			route := r.Pattern
			if o.Route != nil {
				route = o.Route(r)
			}
			if route == "" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if o.Metrics != nil {
				o.Metrics.ObserveHTTP(route, r.Method, status, d)
			}
			span.SetName(route)
			span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("http.route", route))
			span.End()
			if o.SkipLog == nil || !o.SkipLog(r) {
				o.Logger.Info("http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"route", route, "status", status, "bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000,
					"remote", r.RemoteAddr)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError renders err as problem+json.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	problem.Write(w, r.URL.Path, err)
}

// DecodeJSON reads a JSON body strictly: unknown fields are rejected (no mass
// assignment), a body over the limit is 413, malformed JSON is 400.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.New(http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
		}
		return problem.BadRequest("malformed JSON body: " + err.Error())
	}
	if dec.More() {
		return problem.BadRequest("malformed JSON body: trailing data after the object")
	}
	return nil
}
