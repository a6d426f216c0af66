package ingest

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	dto "github.com/prometheus/client_model/go"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTeamDatapointQuotaRefusals: a team over its datapoints/s quota gets
// what the OTLP and remote write specs say a throttled client gets (429 +
// Retry-After; gRPC RESOURCE_EXHAUSTED with RetryInfo; a partial success
// naming the quota when only some resources were over it), counted under
// its reason, while another team keeps ingesting.
func TestTeamDatapointQuotaRefusals(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tr := cardinality.New(cardinality.Limits{
		TeamQuota:  cardinality.TeamQuota{MaxDatapointsPerSecond: 1}, // burst: 10 points
		TeamQuotas: map[string]cardinality.TeamQuota{"team-b": {MaxDatapointsPerSecond: 1000}},
	}, clk.now)
	s := New(Config{Auth: NewBusAuth(&fakeBus{ok: ownershipKeys}, time.Second)}, tr, nil, nil)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	pb := otlptest.Marshal(exactnessSet()) // 11 points
	hdr := func(key, stream string) map[string]string {
		return map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + key, apiv1.HeaderStream: stream}
	}
	rejected := func() float64 {
		var m dto.Metric
		if err := s.m.rejected.WithLabelValues(cardinality.RefusedTeamDatapoints).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}

	// Team A's first request takes its burst and leaves a debt of 1 point.
	for _, c := range []struct{ key, stream string }{{"phx_a", "a--v"}, {"phx_b", "b1"}} {
		if resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr(c.key, c.stream)); resp.StatusCode != 200 || body != "" {
			t.Fatalf("%s first write: %d %q", c.key, resp.StatusCode, body)
		}
	}
	// Whole request over the quota: 429 with Retry-After ((1+1)/1 s).
	resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr("phx_a", "a--v"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" ||
		!strings.Contains(body, cardinality.RefusedTeamDatapoints) || !strings.Contains(body, "analytics.team_max_datapoints_per_second") {
		t.Fatalf("team A over its quota: %d Retry-After %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Remote write: 429 with Retry-After as well, before its body is read
	// (one stream per request), so its samples are not counted.
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}}, Samples: []float64{1}}))
	resp, body = post(t, hs.URL+"/api/v1/write", rw, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
		"Authorization": "Bearer phx_a", apiv1.HeaderStream: "a--v"})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, cardinality.RefusedTeamDatapoints) {
		t.Fatalf("remote write over the quota: %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Into a new stream of the same team: refused by the batch instead,
	// after the walk, the same way.
	resp, body = post(t, hs.URL+"/api/v1/write", rw, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
		"Authorization": "Bearer phx_a", apiv1.HeaderStream: "a-new"})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, "1 datapoints refused") {
		t.Fatalf("remote write into a new stream over the quota: %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// gRPC: RESOURCE_EXHAUSTED with RetryInfo (retryable for OTLP clients).
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer phx_a", "x-phoenix-stream", "a--v")
	_, err = colmetrics.NewMetricsServiceClient(conn).Export(ctx, exactnessSet())
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Fatalf("gRPC over the quota: %v, retry info %v", err, retry)
	}
	// One request, two teams' streams: the throttled team's resource is
	// refused in partial success, the other applied.
	mixed := exactnessSet()
	mixed.ResourceMetrics = append(mixed.ResourceMetrics, otlptest.RM([]*common.KeyValue{
		kv("host.name", "h9"), kv(apiv1.AttrExperimentID, "a"), kv(apiv1.AttrVariant, "v"),
	}, otlptest.Gauge("up", 1, nil, nil)))
	resp, body = post(t, hs.URL+"/v1/metrics", otlptest.Marshal(mixed), hdr("phx_ab", "b1"))
	var out colmetrics.ExportMetricsServiceResponse
	if resp.StatusCode != 200 || proto.Unmarshal([]byte(body), &out) != nil {
		t.Fatalf("mixed request: %d %q", resp.StatusCode, body)
	}
	if ps := out.GetPartialSuccess(); ps.GetRejectedDataPoints() != 2 || !strings.Contains(ps.GetErrorMessage(), cardinality.RefusedTeamDatapoints) ||
		!strings.Contains(ps.GetErrorMessage(), "retry after") {
		t.Fatalf("mixed request: partial success %v, want 2 refused for %s", ps, cardinality.RefusedTeamDatapoints)
	}
	if got := rejected(); got != 11+1+11+2 {
		t.Errorf("phoenix_analytics_datapoints_rejected_total{reason=%q} = %v, want 25", cardinality.RefusedTeamDatapoints, got)
	}
	// Team B kept ingesting throughout; team A may send again once its
	// debt is paid.
	if resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr("phx_b", "b1")); resp.StatusCode != 200 || body != "" {
		t.Fatalf("team B: %d %q", resp.StatusCode, body)
	}
	clk.add(2 * time.Second)
	if resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr("phx_a", "a--v")); resp.StatusCode != 200 || body != "" {
		t.Fatalf("team A after its wait: %d %q", resp.StatusCode, body)
	}
}
