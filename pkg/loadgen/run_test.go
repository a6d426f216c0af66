package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // the server must accept gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func newRun(t *testing.T, target string, rc RunConfig, hosts int) (*Runner, *SimClock) {
	t.Helper()
	tg, err := ParseTarget(target, "")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := NewExporter(tg, ExporterOptions{Token: "phx_test", Headers: map[string]string{"X-Phoenix-Stream": "loadsim"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Close() })
	clock := NewSimClock(t0)
	rc.Clock = clock
	r, err := NewRunner(simulate(t, ProfileRealistic, hosts, 11, false), exp, rc)
	if err != nil {
		t.Fatal(err)
	}
	return r, clock
}

func TestRunHTTP(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var progress []Stats
	r, clock := newRun(t, srv.URL, RunConfig{Duration: time.Minute, BatchSize: 20, Progress: func(st Stats) { progress = append(progress, st) }}, 2)
	st, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Scrapes != 6 || len(progress) != 6 {
		t.Fatalf("scrapes = %d, progress calls %d; want 6 in one minute at 10s", st.Scrapes, len(progress))
	}
	got := int64(len(s.resources()))
	if st.DatapointsSent != got*9 || st.DatapointsFailed != 0 || st.RequestsFailed != 0 {
		t.Fatalf("stats %+v; sink received %d processes (%d datapoints)", st, got, got*9)
	}
	if got != 6*2*30 {
		t.Errorf("sink received %d processes, want 6 scrapes x 2 hosts x 30", got)
	}
	if want := t0.Add(50 * time.Second); !clock.Now().Equal(want) {
		t.Errorf("clock at %s, want the last scrape's time %s (no waiting after it)", clock.Now(), want)
	}
	h := s.headers[0]
	if h.Get("Authorization") != "Bearer phx_test" || h.Get("X-Phoenix-Stream") != "loadsim" ||
		h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("headers %v", h)
	}
}

func TestRunRetryAfter(t *testing.T) {
	s := &sink{respond: func(n int) (int, map[string]string) {
		switch n {
		case 1:
			return http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}
		case 2:
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	r, clock := newRun(t, srv.URL, RunConfig{Duration: 10 * time.Second}, 1)
	st, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Retries != 2 || st.RequestsFailed != 2 || st.DatapointsFailed != 0 || st.DatapointsSent != 30*9 {
		t.Fatalf("stats %+v: want 2 retries, then all 270 datapoints sent", st)
	}
	// Retry-After 7s, then the default 1s backoff.
	if want := t0.Add(8 * time.Second); !clock.Now().Equal(want) {
		t.Errorf("clock at %s, want %s", clock.Now(), want)
	}
}

func TestRunBoundedRetries(t *testing.T) {
	s := &sink{respond: func(int) (int, map[string]string) { return http.StatusServiceUnavailable, nil }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	r, _ := newRun(t, srv.URL, RunConfig{Duration: 30 * time.Second, MaxRetries: 2, MaxConsecutiveFailures: 100}, 1)
	st, err := r.Run(context.Background())
	if !errors.Is(err, ErrNothingDelivered) {
		t.Fatalf("err = %v, want ErrNothingDelivered", err)
	}
	if st.Requests != 9 || st.Retries != 6 || st.DatapointsFailed != 3*30*9 || st.DatapointsSent != 0 {
		t.Fatalf("stats %+v: want 3 scrapes x (1 + 2 retries) requests, all datapoints failed", st)
	}
	if !strings.Contains(st.LastError, "503") {
		t.Errorf("last error %q", st.LastError)
	}
}

// TestRunRetriesStopAtTheEnd: a target that is down does not stretch a run
// past its duration with retries.
func TestRunRetriesStopAtTheEnd(t *testing.T) {
	s := &sink{respond: func(int) (int, map[string]string) { return http.StatusServiceUnavailable, nil }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	r, clock := newRun(t, srv.URL, RunConfig{Duration: 6 * time.Second, Interval: 2 * time.Second, MaxConsecutiveFailures: 100}, 1)
	st, err := r.Run(context.Background())
	if !errors.Is(err, ErrNothingDelivered) {
		t.Fatalf("err = %v, want ErrNothingDelivered", err)
	}
	if clock.Now().After(t0.Add(6 * time.Second)) {
		t.Errorf("the 6s run ended at t+%s", clock.Now().Sub(t0))
	}
	if st.DatapointsFailed != st.Scrapes*30*9 || st.DatapointsSent != 0 {
		t.Errorf("stats %+v: every scrape's datapoints count as failed", st)
	}
}

// TestRunDeadTargetEndsRun: retried failures count toward the consecutive
// failure limit request by request, so a dead target ends a run in about
// ten requests, not ten batches of retries.
func TestRunDeadTargetEndsRun(t *testing.T) {
	s := &sink{respond: func(int) (int, map[string]string) { return http.StatusServiceUnavailable, nil }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	r, _ := newRun(t, srv.URL, RunConfig{Duration: time.Hour}, 1)
	st, err := r.Run(context.Background())
	if !errors.Is(err, ErrTargetFailing) {
		t.Fatalf("err = %v, want ErrTargetFailing", err)
	}
	if st.Requests != DefaultMaxConsecFail {
		t.Errorf("stats %+v: want the run to end after %d failed requests", st, DefaultMaxConsecFail)
	}
}

// TestRunReportsLostDatapoints (issue 14): a run too short for
// ErrTargetFailing whose every datapoint got 401 ends with
// ErrNothingDelivered naming the 401 and the count; a run that lost only
// some says so in FailureSummary but is not an error.
func TestRunReportsLostDatapoints(t *testing.T) {
	tests := []struct {
		name        string
		status      func(req int) int
		wantErr     error
		wantSummary []string // substrings; none: the summary is empty
	}{
		{"every request 401", func(int) int { return http.StatusUnauthorized }, ErrNothingDelivered,
			[]string{"810 of 810 datapoints", "401 Unauthorized"}},
		{"first request 401, then accepted", func(n int) int {
			if n == 1 {
				return http.StatusUnauthorized
			}
			return http.StatusOK
		}, nil, []string{"270 of 810 datapoints", "401"}},
		{"all accepted", func(int) int { return http.StatusOK }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{respond: func(n int) (int, map[string]string) { return tt.status(n), nil }}
			srv := httptest.NewServer(s)
			defer srv.Close()
			r, _ := newRun(t, srv.URL, RunConfig{Duration: 30 * time.Second}, 1) // 3 requests
			st, err := r.Run(context.Background())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			sum := st.FailureSummary()
			if len(tt.wantSummary) == 0 && sum != "" {
				t.Fatalf("summary %q for a run that lost nothing", sum)
			}
			for _, want := range tt.wantSummary {
				if !strings.Contains(sum, want) || (err != nil && !strings.Contains(err.Error(), want)) {
					t.Errorf("summary %q / error %v: want %q", sum, err, want)
				}
			}
		})
	}
}

func TestRunPermanentFailureEndsRun(t *testing.T) {
	s := &sink{respond: func(int) (int, map[string]string) { return http.StatusUnauthorized, nil }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	r, _ := newRun(t, srv.URL, RunConfig{Duration: time.Hour, BatchSize: 10}, 1)
	st, err := r.Run(context.Background())
	if !errors.Is(err, ErrTargetFailing) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want ErrTargetFailing naming 401", err)
	}
	if st.Requests != DefaultMaxConsecFail || st.Retries != 0 {
		t.Errorf("stats %+v: a 401 is not retried and ends the run after %d requests", st, DefaultMaxConsecFail)
	}
}

func TestRunRateCap(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	// 30 processes x 9 = 270 datapoints per scrape, capped at 13.5/s: each
	// scrape's send needs 20s of the 10s interval, so scrapes fall behind and
	// some are skipped. The first batch goes at once (a one-batch burst).
	const cap = 13.5
	r, _ := newRun(t, srv.URL, RunConfig{Duration: 2 * time.Minute, BatchSize: 30, MaxDatapointsPerSecond: cap}, 1)
	st, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Scrapes+st.SkippedScrapes != 12 || st.SkippedScrapes == 0 {
		t.Fatalf("stats %+v: want 12 scrape times in 2 minutes, some skipped", st)
	}
	if rate := float64(st.DatapointsSent-270) / st.ElapsedSeconds; rate > cap {
		t.Errorf("rate after the first batch %.2f dp/s, over the cap %.1f", rate, cap)
	}
}

func TestRunCancelled(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	r, _ := newRun(t, srv.URL, RunConfig{Progress: func(Stats) {
		if n++; n == 3 {
			cancel()
		}
	}}, 1)
	st, err := r.Run(ctx)
	if err != nil || st.Scrapes != 3 {
		t.Fatalf("err %v, scrapes %d: an unbounded run stops cleanly on cancel", err, st.Scrapes)
	}
}

type grpcSink struct {
	colmetricspb.UnimplementedMetricsServiceServer
	mu        sync.Mutex
	resources int
	auth      []string
	failFirst bool
	calls     int
}

func (g *grpcSink) Export(ctx context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.failFirst && g.calls == 1 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	g.auth = append(g.auth, md.Get("authorization")...)
	g.resources += len(req.ResourceMetrics)
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

func TestRunGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := &grpcSink{failFirst: true}
	srv := grpc.NewServer()
	colmetricspb.RegisterMetricsServiceServer(srv, gs)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	r, _ := newRun(t, "grpc://"+ln.Addr().String(), RunConfig{Duration: 20 * time.Second}, 2)
	st, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.resources != 2*2*30 || st.DatapointsSent != int64(gs.resources*9) || st.Retries != 1 {
		t.Fatalf("server got %d processes; stats %+v", gs.resources, st)
	}
	if len(gs.auth) == 0 || gs.auth[0] != "Bearer phx_test" {
		t.Errorf("authorization metadata %v", gs.auth)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"5", 5 * time.Second}, {"-3", 0}, {"junk", 0}, {"86400", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		raw, proto string
		want       string // canonical String()
		key        string
		err        string
	}{
		{raw: "http://127.0.0.1:4318", want: "http://127.0.0.1:4318/v1/metrics", key: "http://127.0.0.1:4318"},
		{raw: "http://localhost:4318/v1/metrics", want: "http://localhost:4318/v1/metrics", key: "http://127.0.0.1:4318"},
		{raw: "https://otel.example.com/otlp/", want: "https://otel.example.com:443/otlp/v1/metrics", key: "https://otel.example.com:443"},
		{raw: "grpc://127.0.0.1:14317", want: "grpc://127.0.0.1:14317", key: "grpc://127.0.0.1:14317"},
		{raw: "grpcs://Collector.Example:4317", want: "grpcs://collector.example:4317", key: "grpcs://collector.example:4317"},
		{raw: "127.0.0.1:4317", proto: "grpc", want: "grpc://127.0.0.1:4317", key: "grpc://127.0.0.1:4317"},
		{raw: "[::1]:4318", proto: "http", want: "http://[::1]:4318/v1/metrics", key: "http://[::1]:4318"},
		{raw: "127.0.0.1:4317", err: "no scheme"},
		{raw: "", err: "required"},
		{raw: "ftp://x:1", err: "scheme must be"},
		{raw: "grpc://host", err: "needs a port"},
		{raw: "grpc://host:4317/v1", err: "no path"},
		{raw: "http://:4318", err: "missing host"},
		{raw: "http://u:p@h:1", err: "credentials"},
		{raw: "http://h:99999", err: "port must be"},
		{raw: "http://h:1", proto: "grpc", err: "the scheme says http"},
		{raw: "h:1", proto: "udp", err: "protocol: must be"},
	}
	for _, tc := range tests {
		tg, err := ParseTarget(tc.raw, tc.proto)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTarget(%q, %q) err = %v, want %q", tc.raw, tc.proto, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.raw, err)
			continue
		}
		if tg.String() != tc.want || tg.Key() != tc.key {
			t.Errorf("ParseTarget(%q) = %s key %s, want %s key %s", tc.raw, tg, tg.Key(), tc.want, tc.key)
		}
	}
}

// FuzzParseTarget: no panic, and an accepted target round-trips through its
// canonical form.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:4318", "grpc://h:4317", "https://a.b/c/", "h:1", "[::1]:4318", "http://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := ParseTarget(raw, "")
		if err != nil {
			return
		}
		again, err := ParseTarget(tg.String(), "")
		if err != nil || again.Key() != tg.Key() {
			t.Fatalf("%q -> %q does not round-trip: %v", raw, tg, err)
		}
	})
}

var _ = io.EOF
