// Package ingest receives metrics over OTLP/HTTP (/v1/metrics, protobuf or
// JSON, gzip or zstd), OTLP/gRPC and Prometheus remote write 1.0
// (/api/v1/write, snappy) and applies them to the cardinality tracker.
//
// Status codes follow the specs: OTLP answers 200 and reports refused points
// in partial_success; remote write answers 204 only when every sample was
// taken and 400 when any is invalid; 413 past the body limit (checked while
// inflating, so a zip bomb stops at the limit); 415 for an unknown content
// type or encoding; 429 or 503 with Retry-After when over capacity.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/remotewrite"
)

// Authenticator resolves a bearer token to a principal; nil means ingest is
// open (the --dev loop).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (apiv1.Principal, error)
}

// Config is what Server needs.
type Config struct {
	MaxBodyBytes     int64         // compressed and decompressed
	MaxInflightBytes int64         // bodies in process at once
	MemoryLimitBytes int64         // heap above which requests get 503; 0 = off
	RetryAfter       time.Duration // suggested to refused clients
	Auth             Authenticator
	// Limits on names, values and label counts, the same for OTLP and
	// remote write; a zero field takes otlpwire.DefaultLimits' value.
	Limits otlpwire.Limits
}

// Server is the ingest front end.
type Server struct {
	cfg     Config
	tracker *cardinality.Tracker
	log     *slog.Logger
	m       *Metrics

	inflight atomic.Int64
	heap     atomic.Int64 // last sampled heap bytes
	pressure atomic.Int64 // bytes the tracker could not grow by; 0 = none
	stop     chan struct{}
	stopOnce sync.Once
	// prevGCLimit is the GC soft limit Start replaced (0: it kept it).
	prevGCLimit int64
	wg          sync.WaitGroup

	zstdPool sync.Pool
}

// Metrics are the ingest self-metrics.
type Metrics struct {
	received *prometheus.CounterVec // protocol
	rejected *prometheus.CounterVec // reason
	requests *prometheus.CounterVec // protocol, code
	bytes    *prometheus.CounterVec // protocol
}

// NewMetrics registers the ingest metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer, tr *cardinality.Tracker, inflight func() float64) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_analytics_datapoints_received_total", Help: "Datapoints accepted by ingest."}, []string{"protocol"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_analytics_datapoints_rejected_total", Help: "Datapoints refused by ingest, by reason."}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_analytics_ingest_requests_total", Help: "Ingest requests by protocol and status."}, []string{"protocol", "code"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_analytics_ingest_bytes_total", Help: "Uncompressed ingest bytes accepted."}, []string{"protocol"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.received, m.rejected, m.requests, m.bytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_streams", Help: "Streams tracked."}, func() float64 { return float64(tr.StreamCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_stream_reservations", Help: "Experiment variant streams reserved for their agents (bounded by 4096)."}, func() float64 { return float64(tr.Reservations()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_series_tracked", Help: "Series held exactly over all streams."}, func() float64 { return float64(tr.TotalSeries()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_inflight_bytes", Help: "Ingest body bytes being processed."}, inflight),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_heap_bytes", Help: "Go heap in use by the process hosting analytics."}, func() float64 { return float64(heapBytes()) }),
	)
	return m
}

// New builds an ingest server; Start its background sampler with Run.
func New(cfg Config, tr *cardinality.Tracker, reg prometheus.Registerer, log *slog.Logger) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxInflightBytes < cfg.MaxBodyBytes {
		cfg.MaxInflightBytes = max(cfg.MaxBodyBytes, 256<<20)
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	d := otlpwire.DefaultLimits()
	for _, f := range []struct {
		v *int
		d int
	}{
		{&cfg.Limits.MaxNameBytes, d.MaxNameBytes}, {&cfg.Limits.MaxLabelNameBytes, d.MaxLabelNameBytes},
		{&cfg.Limits.MaxLabelValueBytes, d.MaxLabelValueBytes}, {&cfg.Limits.MaxLabels, d.MaxLabels},
	} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	s := &Server{cfg: cfg, tracker: tr, log: log, stop: make(chan struct{})}
	s.m = NewMetrics(reg, tr, func() float64 { return float64(s.inflight.Load()) })
	s.heap.Store(int64(heapBytes()))
	if cfg.MemoryLimitBytes > 0 {
		tr.SetMayGrow(s.mayGrow)
	}
	return s
}

// UnderPressure reports whether ingest refuses data for memory.
func (s *Server) UnderPressure() bool {
	return s.cfg.MemoryLimitBytes > 0 && (s.pressure.Load() > 0 || s.heap.Load() > s.cfg.MemoryLimitBytes)
}

// mayGrow lets the tracker allocate a bigger table only within the limit.
// A refusal puts ingest under pressure: requests get 503 until the heap has
// room for the growth (series expire, or the limit is raised). The series
// that asked are still counted, in the stream's sketch.
func (s *Server) mayGrow(extra int64) bool {
	if int64(heapBytes())+extra <= s.cfg.MemoryLimitBytes {
		return true
	}
	s.pressure.Store(extra)
	return false
}

// Start begins sampling the heap (every 10 ms) for the memory limit.
func (s *Server) Start() {
	if s.cfg.MemoryLimitBytes <= 0 {
		return
	}
	// The limit counts heap objects, garbage included until the next GC. With
	// the GC pacing on GOGC alone, the garbage of finished requests can carry
	// the heap past the limit (and keep ingest refusing) while live data is
	// well under it: ask the GC to collect near the limit too, unless a
	// lower soft limit (GOMEMLIMIT) is set already.
	if cur := debug.SetMemoryLimit(-1); cur > s.cfg.MemoryLimitBytes {
		s.prevGCLimit = debug.SetMemoryLimit(s.cfg.MemoryLimitBytes)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				h := int64(heapBytes())
				s.heap.Store(h)
				if p := s.pressure.Load(); p > 0 && h+p <= s.cfg.MemoryLimitBytes {
					s.pressure.Store(0)
				}
			}
		}
	}()
}

// Stop ends the sampler; idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		if s.prevGCLimit > 0 && debug.SetMemoryLimit(-1) == s.cfg.MemoryLimitBytes {
			debug.SetMemoryLimit(s.prevGCLimit)
		}
	})
	s.wg.Wait()
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
var heapMu sync.Mutex

func heapBytes() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// Handler serves /v1/metrics and /api/v1/write.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/metrics", s.serveOTLP)
	mux.HandleFunc("/api/v1/write", s.serveRemoteWrite)
	return mux
}

// ingestError is an HTTP refusal with its status and, for 429/503, a retry hint.
type ingestError struct {
	status int
	msg    string
	retry  time.Duration
	reason string // for the rejected counter
	// challenge is the WWW-Authenticate value of a 401.
	challenge string
}

func (e *ingestError) Error() string { return e.msg }

func refuse(status int, reason, format string, args ...any) *ingestError {
	return &ingestError{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// admit reserves n bytes of in-flight capacity and checks the heap.
func (s *Server) admit(n int64) *ingestError {
	if s.cfg.MemoryLimitBytes > 0 && (s.heap.Load() > s.cfg.MemoryLimitBytes || s.pressure.Load() > 0) {
		return &ingestError{status: http.StatusServiceUnavailable, reason: "memory_limit", retry: s.cfg.RetryAfter,
			msg: "analytics is over its memory limit; retry later"}
	}
	if s.inflight.Add(n) > s.cfg.MaxInflightBytes {
		s.inflight.Add(-n)
		return &ingestError{status: http.StatusTooManyRequests, reason: "inflight_limit", retry: s.cfg.RetryAfter,
			msg: "too much ingest in flight; retry later"}
	}
	return nil
}

func (s *Server) release(n int64) { s.inflight.Add(-n) }

// Writer is who a request writes for: Team owns the streams it creates;
// when Restricted, it may write only into streams owned by one of Teams.
//
// Checked is set for an authenticated caller (not open ingest); Agent is
// the agent its credential writes for: the X-Phoenix-Agent value when the
// credential holds the agent scope, else "". Experiment variant streams
// reserved by the controller admit only their agents (ADR 0016).
type Writer struct {
	Team       string
	Teams      []string
	Restricted bool
	Checked    bool
	Agent      string
}

func (wr Writer) apply(b *cardinality.Batch) {
	if wr.Restricted {
		b.Restrict(wr.Teams)
	}
	if wr.Checked {
		b.Caller(wr.Agent)
	}
}

// bearerToken returns the token of an Authorization value. The scheme is
// case-insensitive (RFC 9110 §11.1, RFC 6750 §2.1); ok is false when the
// value is absent, another scheme, or carries no token.
func bearerToken(authz string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(rest)
	return token, token != ""
}

// Bearer challenges sent with 401 (RFC 6750 §3): without a usable token,
// and with a token that was refused.
const (
	challengeNoToken = `Bearer realm="phoenix-ingest"`
	challengeInvalid = `Bearer realm="phoenix-ingest", error="invalid_token"`
)

// caller authenticates the request and says whom it writes for. Any
// authenticated principal holding the ingest scope may ingest, whatever its
// role (a viewer-role key with the ingest scope included: the scope, not
// the role, grants ingest, and ownership below still holds). Non-admins
// write only into their teams' streams; a non-admin in no team cannot
// ingest at all (it could own nothing).
//
// agent is the X-Phoenix-Agent value: it counts only for a credential with
// the agent scope (an agent's key), so a plain team key cannot claim to be
// an experiment's agent.
func (s *Server) caller(ctx context.Context, authz, agent string) (Writer, *ingestError) {
	if s.cfg.Auth == nil {
		return Writer{}, nil
	}
	token, ok := bearerToken(authz)
	if !ok {
		e := refuse(http.StatusUnauthorized, "unauthenticated", "missing bearer token")
		e.challenge = challengeNoToken
		return Writer{}, e
	}
	p, err := s.cfg.Auth.Authenticate(ctx, token)
	if err != nil {
		var ie *ingestError
		if !errors.As(err, &ie) {
			ie = refuse(http.StatusUnauthorized, "unauthenticated", "invalid credentials")
		}
		if ie.status == http.StatusUnauthorized {
			c := *ie // cached errors are shared: never modify them
			c.challenge = challengeInvalid
			ie = &c
		}
		return Writer{}, ie
	}
	wr := Writer{Teams: p.Teams, Restricted: !p.Admin(), Checked: true}
	if agent != "" {
		if !cardinality.ValidAgent(agent) {
			return Writer{}, refuse(http.StatusBadRequest, "invalid_agent", "%s: %q is not a valid agent id", apiv1.HeaderAgent, agent)
		}
		if slices.Contains(p.Scopes, "agent") {
			wr.Agent = agent
		}
	}
	if len(p.Teams) > 0 {
		wr.Team = p.Teams[0]
	}
	if wr.Restricted && len(p.Teams) == 0 {
		return Writer{}, refuse(http.StatusForbidden, cardinality.RefusedForbidden,
			"%s %q belongs to no team, so it can own no stream: give it a team (phoenix apikey create --team NAME)", p.Kind, p.Subject)
	}
	return wr, nil
}

// StreamParam is the query parameter that names the stream for clients that
// cannot set headers (Prometheus 2.42 does not send remote_write headers).
const StreamParam = "stream"

func streamHeader(h string) (string, *ingestError) {
	if h == "" {
		return "", nil
	}
	if !cardinality.ValidStream(h) {
		return "", refuse(http.StatusBadRequest, "invalid_stream",
			"%s: %q is not a valid stream id (want [A-Za-z0-9_-]{1,64} or <experiment>--<variant>)", apiv1.HeaderStream, h)
	}
	return h, nil
}

// requestStream picks the request's stream: X-Phoenix-Stream, else
// ?stream=, else "" (the default stream). Both are validated when given,
// so a typo in either is a 400 rather than data silently landing in the
// other stream; the header wins when both are valid.
func requestStream(r *http.Request) (string, *ingestError) {
	h, e := streamHeader(r.Header.Get(apiv1.HeaderStream))
	if e != nil {
		return "", e
	}
	if r.URL.RawQuery == "" { // the usual case: no query to parse
		return h, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "invalid_stream", "query: %v", err)
	}
	vs, ok := q[StreamParam]
	if !ok {
		return h, nil
	}
	if len(vs) != 1 || !cardinality.ValidStream(vs[0]) {
		return "", refuse(http.StatusBadRequest, "invalid_stream",
			"?%s=%q is not a valid stream id (want one [A-Za-z0-9_-]{1,64} or <experiment>--<variant>)", StreamParam, strings.Join(vs, ","))
	}
	if h != "" {
		return h, nil
	}
	return vs[0], nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads and decompresses the body within MaxBodyBytes.
func (s *Server) readBody(r *http.Request, encoding string) ([]byte, *bytes.Buffer, *ingestError) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, refuse(http.StatusRequestEntityTooLarge, "too_large", "body of %d bytes exceeds the limit of %d", r.ContentLength, limit)
	}
	raw := bufPool.Get().(*bytes.Buffer)
	raw.Reset()
	if r.ContentLength > 0 {
		raw.Grow(int(r.ContentLength))
	}
	n, err := raw.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		bufPool.Put(raw)
		return nil, nil, refuse(http.StatusBadRequest, "read_error", "read body: %v", err)
	}
	if n > limit {
		bufPool.Put(raw)
		return nil, nil, refuse(http.StatusRequestEntityTooLarge, "too_large", "body exceeds the limit of %d bytes", limit)
	}
	var dec io.Reader
	switch encoding {
	case "", "identity":
		return raw.Bytes(), raw, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw.Bytes()))
		if err != nil {
			bufPool.Put(raw)
			return nil, nil, refuse(http.StatusBadRequest, "decompress", "gzip: %v", err)
		}
		dec = zr
	case "zstd":
		zr, _ := s.zstdPool.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			// Single-threaded and with a bounded window: a hostile frame
			// cannot make the decoder allocate much.
			zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(uint64(limit)+1))
			if err != nil {
				bufPool.Put(raw)
				return nil, nil, refuse(http.StatusInternalServerError, "decompress", "zstd: %v", err)
			}
		}
		if err := zr.Reset(bytes.NewReader(raw.Bytes())); err != nil {
			s.zstdPool.Put(zr)
			bufPool.Put(raw)
			return nil, nil, refuse(http.StatusBadRequest, "decompress", "zstd: %v", err)
		}
		defer s.zstdPool.Put(zr)
		dec = zr
	case "snappy":
		d, err := snappy.DecodedLen(raw.Bytes())
		if err != nil {
			bufPool.Put(raw)
			return nil, nil, refuse(http.StatusBadRequest, "decompress", "snappy: %v", err)
		}
		if int64(d) > limit {
			bufPool.Put(raw)
			return nil, nil, refuse(http.StatusRequestEntityTooLarge, "too_large", "decompressed body of %d bytes exceeds the limit of %d", d, limit)
		}
		out := bufPool.Get().(*bytes.Buffer)
		out.Reset()
		out.Grow(d)
		b, err := snappy.Decode(out.AvailableBuffer()[:d], raw.Bytes())
		bufPool.Put(raw)
		if err != nil {
			bufPool.Put(out)
			return nil, nil, refuse(http.StatusBadRequest, "decompress", "snappy: %v", err)
		}
		return b, out, nil
	default:
		bufPool.Put(raw)
		return nil, nil, refuse(http.StatusUnsupportedMediaType, "unsupported_encoding", "unsupported Content-Encoding %q (use gzip, zstd or none)", encoding)
	}
	out := bufPool.Get().(*bytes.Buffer)
	out.Reset()
	n, err = out.ReadFrom(io.LimitReader(dec, limit+1))
	bufPool.Put(raw)
	if err != nil {
		bufPool.Put(out)
		return nil, nil, refuse(http.StatusBadRequest, "decompress", "%s: %v", encoding, err)
	}
	if n > limit {
		bufPool.Put(out)
		return nil, nil, refuse(http.StatusRequestEntityTooLarge, "too_large", "decompressed body exceeds the limit of %d bytes", limit)
	}
	return out.Bytes(), out, nil
}

func mediaType(ct string) string {
	switch ct { // the common cases, without parsing
	case "application/x-protobuf", "application/json":
		return ct
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, protocol string, e *ingestError, points int) {
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retry+time.Second-1)/time.Second)))
	}
	if e.status == http.StatusUnauthorized {
		c := e.challenge
		if c == "" {
			c = challengeNoToken
		}
		w.Header().Set("WWW-Authenticate", c)
	}
	if points > 0 {
		s.m.rejected.WithLabelValues(e.reason).Add(float64(points))
	}
	s.m.requests.WithLabelValues(protocol, strconv.Itoa(e.status)).Inc()
	if e.status == http.StatusForbidden {
		// Authorization refusals are problem+json like the REST API's.
		problem.Write(w, r.URL.Path, problem.Forbidden("%s", e.msg))
		return
	}
	http.Error(w, e.msg, e.status)
}

func (s *Server) serveOTLP(w http.ResponseWriter, r *http.Request) {
	const protocol = "otlp_http"
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, protocol, refuse(http.StatusMethodNotAllowed, "method", "use POST"), 0)
		return
	}
	isJSON := false
	switch mediaType(r.Header.Get("Content-Type")) {
	case "application/x-protobuf", "application/protobuf":
	case "application/json":
		isJSON = true
	default:
		s.fail(w, r, protocol, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"unsupported Content-Type %q (use application/x-protobuf or application/json)", r.Header.Get("Content-Type")), 0)
		return
	}
	wr, e := s.caller(r.Context(), r.Header.Get("Authorization"), r.Header.Get(apiv1.HeaderAgent))
	var stream string
	if e == nil {
		stream, e = requestStream(r)
	}
	if e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	reserve := r.ContentLength
	if reserve <= 0 || r.Header.Get("Content-Encoding") != "" {
		reserve = s.cfg.MaxBodyBytes // the inflated size is unknown until read
	}
	if e := s.admit(reserve); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	defer s.release(reserve)
	body, buf, e := s.readBody(r, r.Header.Get("Content-Encoding"))
	if e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	defer bufPool.Put(buf)
	if isJSON {
		pb, err := jsonToProto(body)
		if err != nil {
			s.fail(w, r, protocol, refuse(http.StatusBadRequest, "malformed", "%v", err), 0)
			return
		}
		body = pb
	}
	res, err := s.ApplyOTLP(body, stream, wr)
	if err != nil {
		s.fail(w, r, protocol, refuse(http.StatusBadRequest, "malformed", "%v", err), 0)
		return
	}
	if e := allForbidden(res); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	if e := s.allThrottled(res); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	s.m.requests.WithLabelValues(protocol, "200").Inc()
	s.m.bytes.WithLabelValues(protocol).Add(float64(len(body)))
	writeOTLPResponse(w, isJSON, res, s.limitText(res.Reason))
}

// jsonToProto turns an OTLP/JSON request into protobuf for the walker. JSON
// is the slow path: it goes through the upstream proto structs.
func jsonToProto(body []byte) ([]byte, error) {
	var req colmetrics.ExportMetricsServiceRequest
	if err := protojson.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("malformed OTLP JSON: %w", err)
	}
	pb, err := proto.Marshal(&req)
	if err != nil {
		return nil, fmt.Errorf("re-encode OTLP JSON: %w", err)
	}
	return pb, nil
}

var protobufCT = []string{"application/x-protobuf"}

// Result is the outcome of one request.
type Result cardinality.Result

// ApplyOTLP validates an ExportMetricsServiceRequest and applies it, whole
// or not at all: one pass records it, and only a valid request is applied.
// A request too big to record is walked a second time, applying as it goes.
func (s *Server) ApplyOTLP(body []byte, stream string, wr Writer) (Result, error) {
	b := s.tracker.Batch(stream, wr.Team)
	wr.apply(b)
	if err := otlpwire.WalkLimited(body, b, s.cfg.Limits); err != nil {
		b.Discard()
		return Result{}, err
	}
	if b.Overflowed() {
		b.Discard()
		b = s.tracker.Batch(stream, wr.Team)
		wr.apply(b)
		b.SetDirect()
		if err := otlpwire.WalkLimited(body, b, s.cfg.Limits); err != nil { // cannot fail: the first pass accepted it
			b.Discard()
			return Result{}, err
		}
	}
	res := Result(b.Done())
	s.m.received.WithLabelValues("otlp").Add(float64(res.Points))
	s.countRejected(res)
	return res, nil
}

// countRejected counts a result's refused points by reason: ownership and
// the datapoints/s quota under their own, the rest under the first other
// reason.
func (s *Server) countRejected(res Result) {
	if res.Forbidden > 0 {
		s.m.rejected.WithLabelValues(cardinality.RefusedForbidden).Add(float64(res.Forbidden))
	}
	if res.Throttled > 0 {
		s.m.rejected.WithLabelValues(cardinality.RefusedTeamDatapoints).Add(float64(res.Throttled))
	}
	if other := res.Rejected - res.Forbidden - res.Throttled; other > 0 {
		reason := res.Reason
		if reason == cardinality.RefusedForbidden || reason == cardinality.RefusedTeamDatapoints {
			reason = "other"
		}
		s.m.rejected.WithLabelValues(reason).Add(float64(other))
	}
}

// throttledStream refuses a remote write request before its body is read
// when its stream's team is over its datapoints/s quota (the caller being
// one that may write the stream: others learn nothing of its team's rate).
func (s *Server) throttledStream(stream string, wr Writer) *ingestError {
	if stream == "" {
		stream = apiv1.DefaultStream
	}
	st := s.tracker.Stream(stream)
	if st == nil || wr.Restricted && !slices.Contains(wr.Teams, st.Team()) || !s.tracker.Admits(stream, wr.Checked, wr.Agent) {
		return nil
	}
	wait, throttled := s.tracker.Throttled(stream)
	if !throttled {
		return nil
	}
	return s.throttled(Result{RetryAfter: wait})
}

// allThrottled turns a result whose every point was refused for the team's
// datapoints/s quota into a 429 with Retry-After (OTLP/HTTP throttling,
// remote write): nothing was applied, and the client should retry later.
func (s *Server) allThrottled(res Result) *ingestError {
	if res.Throttled == 0 || res.Points > 0 || res.Throttled != res.Rejected {
		return nil
	}
	return s.throttled(res)
}

func (s *Server) throttled(res Result) *ingestError {
	retry := max(res.RetryAfter, time.Second)
	what := "request refused"
	if res.Throttled > 0 {
		what = fmt.Sprintf("%d datapoints refused", res.Throttled)
	}
	return &ingestError{status: http.StatusTooManyRequests, reason: cardinality.RefusedTeamDatapoints, retry: retry,
		msg: fmt.Sprintf("%s: %s%s; retry after %s", what, cardinality.RefusedTeamDatapoints,
			s.limitText(cardinality.RefusedTeamDatapoints), retry.Round(time.Millisecond))}
}

func writeOTLPResponse(w http.ResponseWriter, isJSON bool, res Result, limitText string) {
	if res.Rejected == 0 && !isJSON {
		// The usual answer: an empty ExportMetricsServiceResponse.
		w.Header()["Content-Type"] = protobufCT
		w.WriteHeader(http.StatusOK)
		return
	}
	resp := &colmetrics.ExportMetricsServiceResponse{}
	if res.Rejected > 0 {
		resp.PartialSuccess = &colmetrics.ExportMetricsPartialSuccess{
			RejectedDataPoints: res.Rejected,
			ErrorMessage:       res.message() + limitText,
		}
	}
	var out []byte
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		out, _ = protojson.Marshal(resp)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ = proto.Marshal(resp)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (s *Server) serveRemoteWrite(w http.ResponseWriter, r *http.Request) {
	const protocol = "remote_write"
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, protocol, refuse(http.StatusMethodNotAllowed, "method", "use POST"), 0)
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if ct != "" && (mt != "application/x-protobuf" || params["proto"] != "" && params["proto"] != "prometheus.WriteRequest") {
		s.fail(w, r, protocol, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"unsupported Content-Type %q (remote write 1.0: application/x-protobuf)", ct), 0)
		return
	}
	enc := r.Header.Get("Content-Encoding")
	if enc != "snappy" {
		s.fail(w, r, protocol, refuse(http.StatusUnsupportedMediaType, "unsupported_encoding",
			"unsupported Content-Encoding %q (remote write requires snappy)", enc), 0)
		return
	}
	wr, e := s.caller(r.Context(), r.Header.Get("Authorization"), r.Header.Get(apiv1.HeaderAgent))
	var stream string
	if e == nil {
		stream, e = requestStream(r)
	}
	if e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	if e := s.throttledStream(stream, wr); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	reserve := s.cfg.MaxBodyBytes
	if e := s.admit(reserve); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	defer s.release(reserve)
	body, buf, e := s.readBody(r, enc)
	if e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	defer bufPool.Put(buf)
	res, err := s.ApplyRemoteWrite(body, stream, wr)
	if err != nil {
		var ie *ingestError
		if !errors.As(err, &ie) {
			ie = refuse(http.StatusBadRequest, "invalid", "%v", err)
		}
		s.fail(w, r, protocol, ie, 0)
		return
	}
	if e := allForbidden(res); e != nil {
		s.fail(w, r, protocol, e, 0)
		return
	}
	if res.Throttled > 0 {
		// One stream per request: the whole request was over the quota.
		s.fail(w, r, protocol, s.throttled(res), 0)
		return
	}
	if res.Rejected > 0 {
		// Remote write has no partial success: say what was not taken.
		s.fail(w, r, protocol, refuse(http.StatusBadRequest, res.Reason, "%d of %d samples refused: %s%s", res.Rejected, res.Points+res.Rejected, res.Reason, s.limitText(res.Reason)), 0)
		return
	}
	s.m.requests.WithLabelValues(protocol, "204").Inc()
	s.m.bytes.WithLabelValues(protocol).Add(float64(len(body)))
	w.WriteHeader(http.StatusNoContent)
}

// ApplyRemoteWrite validates a WriteRequest and applies it. A request for a
// new stream past the stream limit is refused whole before anything is
// applied.
func (s *Server) ApplyRemoteWrite(body []byte, stream string, wr Writer) (Result, error) {
	_, samples, err := remotewrite.ValidateLimited(body, s.cfg.Limits)
	if err != nil {
		var le *remotewrite.LimitError
		if errors.As(err, &le) {
			s.m.rejected.WithLabelValues(le.Refusal.String()).Inc() // the series; its samples are not counted yet
			return Result{}, refuse(http.StatusBadRequest, le.Refusal.String(), "%v (%s); nothing was applied", err, limitKeys[le.Refusal])
		}
		return Result{}, err
	}
	id := stream
	if id == "" {
		id = apiv1.DefaultStream
	}
	st := s.tracker.Stream(id)
	if st == nil && s.tracker.StreamCount() >= s.tracker.Limits().MaxStreams {
		return Result{}, refuse(http.StatusBadRequest, cardinality.RefusedStreamLimit, "stream %q refused: the stream limit (%d) is reached", id, s.tracker.Limits().MaxStreams)
	}
	if st != nil && wr.Restricted && !slices.Contains(wr.Teams, st.Team()) {
		// Refused before the walk; the batch checks again for a stream
		// another team creates meanwhile.
		s.m.rejected.WithLabelValues(cardinality.RefusedForbidden).Add(float64(samples))
		return Result{}, forbidden([]string{id})
	}
	b := s.tracker.Batch(stream, wr.Team)
	wr.apply(b)
	b.RemoteWrite(len(body))
	remotewrite.Walk(body, b)
	res := Result(b.Done())
	// Metadata (metric types) applies to a stream the caller may write;
	// it never creates one.
	if st := s.tracker.Stream(id); st != nil && (!wr.Restricted || slices.Contains(wr.Teams, st.Team())) && s.tracker.Admits(id, wr.Checked, wr.Agent) {
		remotewrite.Metadata(body, func(family []byte, t otlpwire.MetricType) {
			if len(family) <= s.cfg.Limits.MaxNameBytes { // a longer name names no series here
				st.SetFamilyType(family, t)
			}
		})
	}
	s.m.received.WithLabelValues("remote_write").Add(float64(res.Points))
	s.countRejected(res)
	return res, nil
}

// limitKeys name the setting behind each limit, for refusal messages.
var limitKeys = map[otlpwire.Refusal]string{
	otlpwire.RefusedNameTooLong:       "analytics.max_metric_name_bytes",
	otlpwire.RefusedLabelNameTooLong:  "analytics.max_label_name_bytes",
	otlpwire.RefusedLabelValueTooLong: "analytics.max_label_value_bytes",
	otlpwire.RefusedTooManyLabels:     "analytics.max_labels_per_series",
	otlpwire.RefusedEmptyLabelName:    "label names must not be empty",
}

// limitText says which limit a refusal reason is, with its value.
func (s *Server) limitText(reason string) string {
	l := s.cfg.Limits
	switch reason {
	case otlpwire.RefusedNameTooLong.String():
		return fmt.Sprintf(" (metric names of at most %d bytes, %s)", l.MaxNameBytes, limitKeys[otlpwire.RefusedNameTooLong])
	case otlpwire.RefusedLabelNameTooLong.String():
		return fmt.Sprintf(" (attribute keys of at most %d bytes, %s)", l.MaxLabelNameBytes, limitKeys[otlpwire.RefusedLabelNameTooLong])
	case otlpwire.RefusedLabelValueTooLong.String():
		return fmt.Sprintf(" (attribute values of at most %d bytes, %s)", l.MaxLabelValueBytes, limitKeys[otlpwire.RefusedLabelValueTooLong])
	case otlpwire.RefusedTooManyLabels.String():
		return fmt.Sprintf(" (at most %d resource and datapoint attributes per series, %s)", l.MaxLabels, limitKeys[otlpwire.RefusedTooManyLabels])
	case otlpwire.RefusedEmptyLabelName.String():
		return " (attribute keys must not be empty)"
	case cardinality.RefusedTeamDatapoints:
		return " (the team sends more than its datapoints/s quota: analytics.team_max_datapoints_per_second, or analytics.team_quotas for this team)"
	case cardinality.RefusedTeamStreams:
		return " (the team owns its quota of streams: analytics.team_max_streams, or analytics.team_quotas for this team; idle streams are forgotten after an hour)"
	}
	return ""
}

// message is the partial-success text: the count, the first reason, and
// the streams refused for ownership.
func (r Result) message() string {
	msg := fmt.Sprintf("%d datapoints refused: %s", r.Rejected, r.Reason)
	if r.Forbidden > 0 {
		msg += fmt.Sprintf("; %d of them for streams owned by another team or reserved for an experiment's agents: %s", r.Forbidden, strings.Join(r.ForbiddenStreams, ", "))
	}
	if r.Throttled > 0 && r.Reason != cardinality.RefusedTeamDatapoints {
		msg += fmt.Sprintf("; %d of them over the team's datapoints/s quota (%s)", r.Throttled, cardinality.RefusedTeamDatapoints)
	}
	if r.Throttled > 0 {
		msg += fmt.Sprintf("; retry after %s", max(r.RetryAfter, time.Second).Round(time.Millisecond))
	}
	return msg
}

// forbidden is the refusal of a request whose every stream belongs to
// another team.
func forbidden(streams []string) *ingestError {
	return refuse(http.StatusForbidden, cardinality.RefusedForbidden,
		"stream %s belongs to a team this key does not write for, or is an experiment's variant stream that only the experiment's agents write (their agent key with X-Phoenix-Agent): use a stream of your team (X-Phoenix-Stream or ?stream=)",
		strings.Join(streams, ", "))
}

// allForbidden turns a result whose every point was refused for ownership
// into a 403 (nothing was applied, so there is no partial success to tell).
func allForbidden(res Result) *ingestError {
	if res.Forbidden == 0 || res.Points > 0 || res.Forbidden != res.Rejected {
		return nil
	}
	return forbidden(res.ForbiddenStreams)
}
