package ingest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestReservedVariantStream: once the controller reserved an experiment's
// variant stream for its agents, only an agent credential (scope agent)
// naming one of those agents (X-Phoenix-Agent) writes into it, over
// OTLP/HTTP, gRPC and remote write; a team key of the same team is refused
// as stream_forbidden, and so is another agent or a header without the
// agent scope. Open ingest (--dev) is not restricted.
func TestReservedVariantStream(t *testing.T) {
	keys := map[string]apiv1.Principal{
		"phx_team":  {Subject: "kt", Kind: "api_key", Role: "operator", Teams: []string{"team-a"}, Scopes: []string{"ingest"}},
		"phx_agent": {Subject: "kg", Kind: "api_key", Role: "operator", Teams: []string{"team-a"}, Scopes: []string{"agent", "ingest"}},
		"phx_admin": {Subject: "kd", Kind: "api_key", Role: "admin", Teams: []string{"ops"}, Scopes: []string{"ingest"}},
	}
	s, hs := newServer(t, Config{Auth: NewBusAuth(&fakeBus{ok: keys}, time.Second)}, cardinality.Limits{})
	if err := s.tracker.Reserve("team-a", []string{"exp1--cand"}, []string{"agent-1"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pb := otlptest.Marshal(exactnessSet())
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}}, Samples: []float64{1}}))
	for _, c := range []struct {
		name, key, agent string
		otlpCode, rwCode int
	}{
		{"team key", "phx_team", "", 403, 403},
		{"team key claiming the agent", "phx_team", "agent-1", 403, 403},
		{"admin key", "phx_admin", "", 403, 403},
		{"another agent", "phx_agent", "agent-2", 403, 403},
		{"agent key without its id", "phx_agent", "", 403, 403},
		{"invalid agent id", "phx_agent", "a b", 400, 400},
		{"the experiment's agent", "phx_agent", "agent-1", 200, 204},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + c.key, apiv1.HeaderStream: "exp1--cand"}
			if c.agent != "" {
				h[apiv1.HeaderAgent] = c.agent
			}
			if resp, body := post(t, hs.URL+"/v1/metrics", pb, h); resp.StatusCode != c.otlpCode || c.otlpCode == 200 && body != "" {
				t.Errorf("OTLP: %d %q, want %d", resp.StatusCode, body, c.otlpCode)
			}
			h["Content-Encoding"] = "snappy"
			if resp, body := post(t, hs.URL+"/api/v1/write", rw, h); resp.StatusCode != c.rwCode {
				t.Errorf("remote write: %d %q, want %d", resp.StatusCode, body, c.rwCode)
			}
		})
	}
	// gRPC reads the agent from the x-phoenix-agent metadata.
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
	export := func(kv ...string) error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), append([]string{"x-phoenix-stream", "exp1--cand"}, kv...)...)
		_, err := colmetrics.NewMetricsServiceClient(conn).Export(ctx, exactnessSet())
		return err
	}
	if err := export("authorization", "Bearer phx_team"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC team key: %v, want PERMISSION_DENIED", err)
	}
	if err := export("authorization", "Bearer phx_agent", "x-phoenix-agent", "agent-1"); err != nil {
		t.Errorf("gRPC agent: %v", err)
	}
	st := s.tracker.Stream("exp1--cand")
	if st == nil || st.Team() != "team-a" {
		t.Fatalf("stream %v", st)
	}
	if rep := st.Snapshot().Report(1); rep.ActiveSeries != 9 || rep.Refused[cardinality.RefusedForbidden] != 0 {
		t.Errorf("the reserved stream holds %d series (want the agent's 8 + up), refused %v", rep.ActiveSeries, rep.Refused)
	}

	// Open ingest: no caller, no check.
	open, ohs := newServer(t, Config{}, cardinality.Limits{})
	if err := open.tracker.Reserve("team-a", []string{"exp1--cand"}, []string{"agent-1"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, ohs.URL+"/v1/metrics", pb, map[string]string{"Content-Type": "application/x-protobuf", apiv1.HeaderStream: "exp1--cand"}); resp.StatusCode != 200 || body != "" {
		t.Errorf("open ingest into a reserved stream: %d %q", resp.StatusCode, body)
	}
}
