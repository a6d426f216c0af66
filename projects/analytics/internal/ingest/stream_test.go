package ingest

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestStreamSelection: X-Phoenix-Stream and ?stream= choose the stream of
// every ingest endpoint with the same validation; the header wins; the
// experiment resource attributes win over both for OTLP.
func TestStreamSelection(t *testing.T) {
	plain := otlptest.Marshal(otlptest.Request(otlptest.RM([]*common.KeyValue{kv("host.name", "h1")}, otlptest.Gauge("up", 1, nil))))
	variant := otlptest.Marshal(otlptest.Request(otlptest.RM([]*common.KeyValue{
		kv("host.name", "h1"), kv(apiv1.AttrExperimentID, "exp1"), kv(apiv1.AttrVariant, "candidate"),
	}, otlptest.Gauge("up", 1, nil))))
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}, {"job", "x"}}, Samples: []float64{1}}))
	otlpHdr := map[string]string{"Content-Type": "application/x-protobuf"}
	rwHdr := map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
	cases := []struct {
		name   string
		path   string // with its query
		body   []byte
		header string // X-Phoenix-Stream
		status int
		stream string // where the series must land ("" when refused)
		substr string // in the refusal
	}{
		{"otlp default", "/v1/metrics", plain, "", 200, apiv1.DefaultStream, ""},
		{"otlp query", "/v1/metrics?stream=q1", plain, "", 200, "q1", ""},
		{"otlp query variant form", "/v1/metrics?stream=e1--v1", plain, "", 200, "e1--v1", ""},
		{"otlp header", "/v1/metrics", plain, "h1", 200, "h1", ""},
		{"otlp header wins", "/v1/metrics?stream=q1", plain, "h1", 200, "h1", ""},
		{"otlp other params ignored", "/v1/metrics?foo=bar", plain, "", 200, apiv1.DefaultStream, ""},
		{"otlp resource attributes win", "/v1/metrics?stream=q1", variant, "h1", 200, "exp1--candidate", ""},
		{"otlp bad query", "/v1/metrics?stream=bad%20id", plain, "", 400, "", "?stream="},
		{"otlp empty query", "/v1/metrics?stream=", plain, "", 400, "", "?stream="},
		{"otlp long query", "/v1/metrics?stream=" + strings.Repeat("a", 65), plain, "", 400, "", "?stream="},
		{"otlp repeated query", "/v1/metrics?stream=a&stream=b", plain, "", 400, "", "?stream="},
		{"otlp bad query with good header", "/v1/metrics?stream=bad!", plain, "h1", 400, "", "?stream="},
		{"otlp bad header with good query", "/v1/metrics?stream=q1", plain, "bad!", 400, "", apiv1.HeaderStream},
		{"otlp undecodable query", "/v1/metrics?stream=%zz", plain, "", 400, "", "query"},
		{"rw default", "/api/v1/write", rw, "", 204, apiv1.DefaultStream, ""},
		{"rw query", "/api/v1/write?stream=prom1", rw, "", 204, "prom1", ""},
		{"rw header wins", "/api/v1/write?stream=prom1", rw, "h1", 204, "h1", ""},
		{"rw bad query", "/api/v1/write?stream=a.b", rw, "", 400, "", "?stream="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, hs := newServer(t, Config{}, cardinality.Limits{})
			hdr := otlpHdr
			if strings.HasPrefix(c.path, "/api/v1/write") {
				hdr = rwHdr
			}
			hdr = withHeader(hdr, apiv1.HeaderStream, c.header)
			resp, body := post(t, hs.URL+c.path, c.body, hdr)
			if resp.StatusCode != c.status || !strings.Contains(body, c.substr) {
				t.Fatalf("status %d body %q, want %d containing %q", resp.StatusCode, body, c.status, c.substr)
			}
			streams := s.tracker.Streams()
			if c.stream == "" {
				if len(streams) != 0 {
					t.Fatalf("refused request created stream %s", streams[0].Name())
				}
				return
			}
			if len(streams) != 1 || streams[0].Name() != c.stream {
				var names []string
				for _, st := range streams {
					names = append(names, st.Name())
				}
				t.Fatalf("streams %v, want [%s]", names, c.stream)
			}
		})
	}
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(h)+1)
	for hk, hv := range h {
		out[hk] = hv
	}
	if v != "" {
		out[k] = v
	}
	return out
}

// TestGRPCStreamMetadata: gRPC keeps the x-phoenix-stream metadata key,
// validated like the header.
func TestGRPCStreamMetadata(t *testing.T) {
	s, _ := newServer(t, Config{}, cardinality.Limits{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := colmetrics.NewMetricsServiceClient(conn)
	req := otlptest.Request(otlptest.RM(nil, otlptest.Gauge("up", 1, nil)))
	for _, c := range []struct {
		stream string
		code   codes.Code
	}{{"g1", codes.OK}, {"bad stream", codes.InvalidArgument}} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-phoenix-stream", c.stream)
		if _, err := cl.Export(ctx, req); status.Code(err) != c.code {
			t.Errorf("stream %q: %v, want %v", c.stream, err, c.code)
		}
	}
	if s.tracker.Stream("g1") == nil || s.tracker.StreamCount() != 1 {
		t.Errorf("streams: %d", s.tracker.StreamCount())
	}
}
