package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Exporter sends one OTLP export request. It reports how many datapoints
// the receiver rejected in a partial success; an error means the whole
// request failed. A *RetryableError asks the caller to retry.
type Exporter interface {
	Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (rejected int64, err error)
	Close() error
}

// RetryableError is a failure the OTLP spec says to retry (HTTP 429, 502,
// 503, 504; gRPC UNAVAILABLE, RESOURCE_EXHAUSTED with retry info, ...).
// After is the server's Retry-After, or 0 for the caller's backoff.
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// ExporterOptions configure NewExporter.
type ExporterOptions struct {
	Headers   map[string]string // added to every request (gRPC: metadata)
	Token     string            // sent as Authorization: Bearer <token>
	Timeout   time.Duration     // per request; default 10s
	UserAgent string            // default phoenix-loadsim
	TLS       *tls.Config       // for https/grpcs; nil = system roots
}

// NewExporter builds the exporter for a target's protocol.
func NewExporter(t Target, o ExporterOptions) (Exporter, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "phoenix-loadsim"
	}
	switch t.Protocol {
	case ProtocolHTTP:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLS != nil {
			tr.TLSClientConfig = o.TLS
		}
		return &HTTPExporter{url: t.Endpoint, opts: o, client: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
	case ProtocolGRPC:
		creds := insecure.NewCredentials()
		if t.TLS {
			cfg := o.TLS
			if cfg == nil {
				cfg = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			creds = credentials.NewTLS(cfg)
		}
		conn, err := grpc.NewClient(t.Endpoint, grpc.WithTransportCredentials(creds), grpc.WithUserAgent(o.UserAgent))
		if err != nil {
			return nil, fmt.Errorf("grpc client for %s: %w", t.Endpoint, err)
		}
		return &GRPCExporter{conn: conn, client: colmetricspb.NewMetricsServiceClient(conn), opts: o}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", t.Protocol)
}

// HTTPExporter posts gzip-compressed protobuf to an OTLP/HTTP endpoint.
type HTTPExporter struct {
	url    string
	opts   ExporterOptions
	client *http.Client
}

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 64 << 10

// Export posts one request.
func (e *HTTPExporter) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (int64, error) {
	raw, err := proto.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("marshal export request: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return 0, fmt.Errorf("gzip export request: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("gzip export request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, &buf)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("Content-Encoding", "gzip")
	hreq.Header.Set("User-Agent", e.opts.UserAgent)
	for k, v := range e.opts.Headers {
		hreq.Header.Set(k, v)
	}
	if e.opts.Token != "" {
		hreq.Header.Set("Authorization", "Bearer "+e.opts.Token)
	}
	resp, err := e.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Connection refused, reset, timeout: the OTLP spec treats these as retryable.
		return 0, &RetryableError{Err: fmt.Errorf("post %s: %w", e.url, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		var out colmetricspb.ExportMetricsServiceResponse
		if len(body) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
			if err := proto.Unmarshal(body, &out); err != nil {
				return 0, fmt.Errorf("decode export response: %w", err)
			}
		}
		return out.GetPartialSuccess().GetRejectedDataPoints(), nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		return 0, &RetryableError{Err: fmt.Errorf("post %s: %s%s", e.url, resp.Status, snippet(body)),
			After: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return 0, fmt.Errorf("post %s: %s%s", e.url, resp.Status, snippet(body))
	}
}

// Close releases idle connections.
func (e *HTTPExporter) Close() error {
	e.client.CloseIdleConnections()
	return nil
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" || !isText(s) {
		return ""
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return ": " + s
}

func isText(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}

// maxRetryAfter caps a server's Retry-After so a bad header cannot stall a run.
const maxRetryAfter = 5 * time.Minute

// retryAfter parses Retry-After: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// GRPCExporter calls the OTLP MetricsService with gzip compression.
type GRPCExporter struct {
	conn   *grpc.ClientConn
	client colmetricspb.MetricsServiceClient
	opts   ExporterOptions
}

// Export sends one request.
func (e *GRPCExporter) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	md := metadata.New(nil)
	for k, v := range e.opts.Headers {
		md.Set(strings.ToLower(k), v)
	}
	if e.opts.Token != "" {
		md.Set("authorization", "Bearer "+e.opts.Token)
	}
	if md.Len() > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	resp, err := e.client.Export(ctx, req, grpc.UseCompressor(grpcgzip.Name))
	if err == nil {
		return resp.GetPartialSuccess().GetRejectedDataPoints(), nil
	}
	st := status.Convert(err)
	var after time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			after = min(ri.GetRetryDelay().AsDuration(), maxRetryAfter)
		}
	}
	err = fmt.Errorf("export to %s: %s: %s", e.conn.Target(), st.Code(), st.Message())
	switch st.Code() {
	case codes.Unavailable, codes.Aborted, codes.OutOfRange, codes.DataLoss, codes.DeadlineExceeded, codes.Canceled:
		if errors.Is(ctx.Err(), context.Canceled) {
			return 0, ctx.Err()
		}
		return 0, &RetryableError{Err: err, After: after}
	case codes.ResourceExhausted:
		// The spec retries RESOURCE_EXHAUSTED only when the server says when.
		if after > 0 {
			return 0, &RetryableError{Err: err, After: after}
		}
	}
	return 0, err
}

// Close closes the connection.
func (e *GRPCExporter) Close() error { return e.conn.Close() }
