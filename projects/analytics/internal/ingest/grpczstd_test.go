package ingest

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	dto "github.com/prometheus/client_model/go"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// precompressed sends a ready zstd payload whatever the (non-empty) message: the way
// to put a crafted frame (a bomb) on the wire through a real gRPC client.
type precompressed struct{ b []byte }

func (p precompressed) Do(w io.Writer, _ []byte) error { _, err := w.Write(p.b); return err }
func (precompressed) Type() string                     { return "zstd" }

// zstdOf compresses n zero bytes (written 1 MiB at a time) with the
// encoder options given.
func zstdOf(t *testing.T, n int, opts ...zstd.EOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(zero))
		if _, err := zw.Write(zero[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGRPCZstd(t *testing.T) {
	const limit = 1 << 20
	s, _ := newServer(t, Config{MaxBodyBytes: limit}, cardinality.Limits{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := s.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	dial := func(opts ...grpc.DialOption) colmetrics.MetricsServiceClient {
		conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return colmetrics.NewMetricsServiceClient(conn)
	}
	refused := func(code string) float64 {
		var m dto.Metric
		if err := s.m.requests.WithLabelValues("otlp_grpc", code).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}

	// A real OTLP export, zstd-compressed by the client (the answer comes
	// back zstd-compressed too).
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-phoenix-stream", "zstd")
	resp, err := dial().Export(ctx, exactnessSet(), grpc.UseCompressor("zstd"))
	if err != nil || resp.GetPartialSuccess().GetRejectedDataPoints() != 0 {
		t.Fatalf("zstd export: %v %v", err, resp)
	}
	checkExact(t, s.tracker, "zstd")

	// A frame of 256 MiB of zeros (a few KiB on the wire) is refused once
	// the limit is read, not inflated.
	bomb := zstdOf(t, 256<<20, zstd.WithWindowSize(1<<20))
	if len(bomb) > limit/8 {
		t.Fatalf("bomb of %d bytes is not a bomb", len(bomb))
	}
	cases := []struct {
		name    string
		payload []byte
		code    codes.Code
		counted string // the request's code in phoenix_analytics_ingest_requests_total
	}{
		{"zstd bomb", bomb, codes.ResourceExhausted, "413"},
		// A frame may not make the decoder allocate a window past 8 MiB.
		{"window past the bound", zstdOf(t, 9<<20, zstd.WithWindowSize(64<<20)), codes.Internal, "400"},
		{"not zstd", []byte("definitely not a zstd frame"), codes.Internal, "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			//lint:ignore SA1019 the deprecated Compressor API is the only way to send a crafted frame
			client := dial(grpc.WithCompressor(precompressed{tc.payload}))
			before := refused(tc.counted)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			_, err := client.Export(metadata.AppendToOutgoingContext(context.Background(), "x-phoenix-stream", "bomb"), exactnessSet())
			runtime.ReadMemStats(&ms1)
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if got := refused(tc.counted) - before; got != 1 {
				t.Errorf("%v more requests counted %s", got, tc.counted)
			}
			// Unbounded, the bomb would allocate 256 MiB; bounded, the
			// limit, the window and the transport's buffers.
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; !raceEnabled && alloc > 48<<20 {
				t.Errorf("allocated %d MiB for a refused request", alloc>>20)
			}
			if s.tracker.Stream("bomb") != nil {
				t.Error("a refused request created its stream")
			}
		})
	}
}
