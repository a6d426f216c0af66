package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T, cfg Config, l cardinality.Limits) (*Server, *httptest.Server) {
	t.Helper()
	tr := cardinality.New(l, nil)
	s := New(cfg, tr, nil, nil)
	s.Start()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Stop() })
	return s, hs
}

func post(t *testing.T, url string, body []byte, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var kv = otlptest.KV

// exactnessSet: duplicates, reordered attributes, resource vs datapoint
// attributes and all metric types; 9 distinct series.
func exactnessSet() *colmetrics.ExportMetricsServiceRequest {
	resA := []*common.KeyValue{kv("host.name", "h1"), kv("process.pid", "1")}
	resAr := []*common.KeyValue{kv("process.pid", "1"), kv("host.name", "h1")}
	resB := []*common.KeyValue{kv("host.name", "h1"), kv("process.pid", "2")}
	u, s := []*common.KeyValue{kv("state", "user"), kv("cpu", "0")}, []*common.KeyValue{kv("cpu", "0"), kv("state", "system")}
	return otlptest.Request(
		otlptest.RM(resA, otlptest.Sum("cpu", 1, u, s), otlptest.Gauge("mem", 1, nil)),
		otlptest.RM(resAr, otlptest.Sum("cpu", 2, s, u), otlptest.Gauge("mem", 2, nil)), // duplicates
		otlptest.RM(resB, otlptest.Sum("cpu", 3, u), otlptest.Histogram("lat", 1, nil), otlptest.ExpHistogram("elat", 1, nil), otlptest.Summary("sum", 1, nil)),
		otlptest.RM([]*common.KeyValue{kv("process.pid", "1")}, otlptest.Gauge("mem", 1, []*common.KeyValue{kv("host.name", "h1")})),
	)
}

func checkExact(t *testing.T, tr *cardinality.Tracker, stream string) {
	t.Helper()
	st := tr.Stream(stream)
	if st == nil {
		t.Fatalf("stream %s missing", stream)
	}
	rep := st.Snapshot().Report(10)
	if rep.ActiveSeries != 8 || !rep.Exact {
		t.Fatalf("%s: active %d exact %v, want 8", stream, rep.ActiveSeries, rep.Exact)
	}
	want := map[string]int64{"cpu": 3, "mem": 2, "lat": 1, "elat": 1, "sum": 1}
	for _, m := range rep.Metrics {
		if want[m.Name] != m.Series {
			t.Errorf("%s: metric %s has %d series, want %d", stream, m.Name, m.Series, want[m.Name])
		}
		if m.Name == "cpu" {
			for _, l := range m.Labels {
				if l.Name == "process.pid" && (l.DistinctValues != 2 || math.Abs(l.Share-1.0/3) > 1e-12) {
					t.Errorf("%s: cpu pid %+v", stream, l)
				}
				if l.Name == "state" && (l.DistinctValues != 2 || math.Abs(l.Share-1.0/3) > 1e-12) {
					t.Errorf("%s: cpu state %+v", stream, l)
				}
			}
		}
	}
	if *rep.NewSeriesPerMin != 8 {
		t.Errorf("%s: new series %v", stream, *rep.NewSeriesPerMin)
	}
}

func TestExactnessPerProtocol(t *testing.T) {
	s, hs := newServer(t, Config{}, cardinality.Limits{})
	req := exactnessSet()
	pb := otlptest.Marshal(req)
	js, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := kgzip.NewWriter(&gz)
	_, _ = zw.Write(pb)
	_ = zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(pb, nil)
	_ = enc.Close()

	cases := []struct {
		stream string
		body   []byte
		hdr    map[string]string
	}{
		{"proto", pb, map[string]string{"Content-Type": "application/x-protobuf"}},
		{"json", js, map[string]string{"Content-Type": "application/json"}},
		{"gzip", gz.Bytes(), map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}},
		{"zstd", zs, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"}},
	}
	for _, c := range cases {
		c.hdr[apiv1.HeaderStream] = c.stream
		for range 2 { // sending twice changes nothing
			resp, body := post(t, hs.URL+"/v1/metrics", c.body, c.hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", c.stream, resp.StatusCode, body)
			}
		}
		checkExact(t, s.tracker, c.stream)
	}

	// gRPC.
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
	client := colmetrics.NewMetricsServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-phoenix-stream", "grpc")
	for i := range 2 {
		var opts []grpc.CallOption
		if i == 1 {
			opts = append(opts, grpc.UseCompressor("gzip")) // what OTLP exporters send by default
		}
		resp, err := client.Export(ctx, req, opts...)
		if err != nil || resp.GetPartialSuccess().GetRejectedDataPoints() != 0 {
			t.Fatalf("grpc export: %v %v", err, resp)
		}
	}
	checkExact(t, s.tracker, "grpc")

	// Remote write: the same series as labels (resource and datapoint
	// attributes merge into one label set, so the datapoint host.name of the
	// last resource names the same series as the resource one: 7 series).
	rw := otlptest.RemoteWrite(
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "cpu"}, {"host_name", "h1"}, {"pid", "1"}, {"state", "user"}}, Samples: []float64{1}},
		otlptest.RWSeries{Labels: [][2]string{{"state", "user"}, {"pid", "1"}, {"__name__", "cpu"}, {"host_name", "h1"}}, Samples: []float64{1, 2}},
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "cpu"}, {"host_name", "h1"}, {"pid", "1"}, {"state", "system"}}, Samples: []float64{1}},
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "cpu"}, {"host_name", "h1"}, {"pid", "2"}, {"state", "user"}}, Samples: []float64{1}},
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "mem"}, {"host_name", "h1"}, {"pid", "1"}}, Samples: []float64{1}},
	)
	resp, body := post(t, hs.URL+"/api/v1/write", snappy.Encode(nil, rw), map[string]string{
		"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", apiv1.HeaderStream: "rw",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
	})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remote write: %d %s", resp.StatusCode, body)
	}
	rep := s.tracker.Stream("rw").Snapshot().Report(10)
	if rep.ActiveSeries != 4 || *rep.NewSeriesPerMin != 4 {
		t.Fatalf("rw: active %d new %v", rep.ActiveSeries, *rep.NewSeriesPerMin)
	}
	for _, m := range rep.Metrics {
		if m.Name == "cpu" && m.Series != 3 {
			t.Errorf("rw cpu series %d", m.Series)
		}
	}
}

func TestStatusCodes(t *testing.T) {
	_, hs := newServer(t, Config{MaxBodyBytes: 1 << 16}, cardinality.Limits{})
	pb := otlptest.Marshal(exactnessSet())
	big := bytes.Repeat([]byte{0}, 1<<20) // inflates past the limit
	var bomb bytes.Buffer
	zw := kgzip.NewWriter(&bomb)
	_, _ = zw.Write(big)
	_ = zw.Close()
	proto := map[string]string{"Content-Type": "application/x-protobuf"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range proto {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	seeds, _ := filepath.Glob("testdata/bad/*.bin")
	cases := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		substr string
	}{
		{"ok", "/v1/metrics", pb, proto, 200, ""},
		{"malformed protobuf", "/v1/metrics", []byte{0x0a, 0x10, 0x01}, proto, 400, "malformed"},
		{"malformed json", "/v1/metrics", []byte(`{"resourceMetrics": [`), map[string]string{"Content-Type": "application/json"}, 400, "JSON"},
		{"unknown content type", "/v1/metrics", pb, map[string]string{"Content-Type": "text/plain"}, 415, "Content-Type"},
		{"unknown encoding", "/v1/metrics", pb, with(map[string]string{"Content-Encoding": "br"}), 415, "Content-Encoding"},
		{"too large", "/v1/metrics", make([]byte, 1<<17), proto, 413, "limit"},
		{"zip bomb", "/v1/metrics", bomb.Bytes(), with(map[string]string{"Content-Encoding": "gzip"}), 413, "decompressed"},
		{"bad gzip", "/v1/metrics", []byte("not gzip"), with(map[string]string{"Content-Encoding": "gzip"}), 400, "gzip"},
		{"bad stream header", "/v1/metrics", pb, with(map[string]string{apiv1.HeaderStream: "bad stream!"}), 400, "stream"},
		{"rw no snappy", "/api/v1/write", pb, proto, 415, "snappy"},
		{"rw v2", "/api/v1/write", snappy.Encode(nil, pb), map[string]string{"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request", "Content-Encoding": "snappy"}, 415, "Content-Type"},
		{"rw invalid", "/api/v1/write", snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"job", "x"}}, Samples: []float64{1}})),
			with(map[string]string{"Content-Encoding": "snappy"}), 400, "__name__"},
		{"rw snappy bomb", "/api/v1/write", snappy.Encode(nil, big), with(map[string]string{"Content-Encoding": "snappy"}), 413, "decompressed"},
		{"rw bad snappy", "/api/v1/write", []byte{0xff, 0xff, 0xff}, with(map[string]string{"Content-Encoding": "snappy"}), 400, "snappy"},
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			name   string
			path   string
			body   []byte
			hdr    map[string]string
			status int
			substr string
		}{filepath.Base(p), "/v1/metrics", b, proto, 400, "malformed"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, hs.URL+c.path, c.body, c.hdr)
			if resp.StatusCode != c.status || !strings.Contains(body, c.substr) {
				t.Errorf("status %d body %q, want %d containing %q", resp.StatusCode, body, c.status, c.substr)
			}
		})
	}
	resp, err := http.Get(hs.URL + "/v1/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestPartialSuccess(t *testing.T) {
	s, hs := newServer(t, Config{}, cardinality.Limits{MaxStreams: 1})
	pb := otlptest.Marshal(exactnessSet())
	resp, _ := post(t, hs.URL+"/v1/metrics", pb, map[string]string{"Content-Type": "application/x-protobuf", apiv1.HeaderStream: "a"})
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	// A second stream is over the limit: 200 with every point reported.
	resp, body := post(t, hs.URL+"/v1/metrics", pb, map[string]string{"Content-Type": "application/x-protobuf", apiv1.HeaderStream: "b"})
	var out colmetrics.ExportMetricsServiceResponse
	if err := proto.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if out.GetPartialSuccess().GetRejectedDataPoints() != 11 || !strings.Contains(out.GetPartialSuccess().GetErrorMessage(), "stream_limit") {
		t.Errorf("partial success %+v", out.GetPartialSuccess())
	}
	// Same in JSON.
	js, _ := protojson.Marshal(exactnessSet())
	_, body = post(t, hs.URL+"/v1/metrics", js, map[string]string{"Content-Type": "application/json", apiv1.HeaderStream: "b"})
	var jr map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &jr); err != nil || jr["partialSuccess"]["rejectedDataPoints"] != "11" {
		t.Errorf("json partial success: %s", body)
	}
	// Remote write to the refused stream: 400, never 204.
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}}, Samples: []float64{1}}))
	resp, body = post(t, hs.URL+"/api/v1/write", rw, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", apiv1.HeaderStream: "c"})
	if resp.StatusCode != 400 || !strings.Contains(body, "stream limit") {
		t.Errorf("rw over stream limit: %d %s", resp.StatusCode, body)
	}
	if s.tracker.Stream("c") != nil {
		t.Error("refused stream was created")
	}
}

type fakeBus struct {
	calls int
	ok    map[string]apiv1.Principal
}

func (f *fakeBus) Request(_ context.Context, subject string, req, resp any) error {
	f.calls++
	if subject != apiv1.SubjectAuthenticate {
		return problem.NotFound("no such subject")
	}
	ar := req.(apiv1.AuthenticateRequest)
	if ar.Scope != "ingest" {
		return problem.Forbidden("wrong scope")
	}
	p, ok := f.ok[ar.Token]
	if !ok {
		return problem.Unauthorized("bad token")
	}
	*(resp.(*apiv1.Principal)) = p
	return nil
}

func TestAuthentication(t *testing.T) {
	bus := &fakeBus{ok: map[string]apiv1.Principal{"phx_good": {Subject: "k1", Kind: "api_key", Teams: []string{"payments", "infra"}}}}
	s, hs := newServer(t, Config{Auth: NewBusAuth(bus, time.Second)}, cardinality.Limits{})
	pb := otlptest.Marshal(exactnessSet())
	for _, c := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Basic x", 401}, {"Bearer phx_bad", 401}, {"Bearer phx_bad", 401}, {"Bearer phx_good", 200}, {"Bearer phx_good", 200}} {
		resp, body := post(t, hs.URL+"/v1/metrics", pb, map[string]string{"Content-Type": "application/x-protobuf", "Authorization": c.auth})
		if resp.StatusCode != c.status {
			t.Errorf("auth %q: %d %s", c.auth, resp.StatusCode, body)
		}
	}
	if bus.calls != 2 {
		t.Errorf("auth service called %d times, want 2 (answers are cached)", bus.calls)
	}
	if st := s.tracker.Stream(apiv1.DefaultStream); st == nil || st.Team() != "payments" {
		t.Errorf("stream owner: %+v", st)
	}
	// gRPC refuses without credentials.
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	g := s.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	conn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	_, err := colmetrics.NewMetricsServiceClient(conn).Export(context.Background(), exactnessSet())
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("grpc without token: %v", err)
	}
}

// A request malformed after valid data is refused whole: nothing counted.
func TestMalformedAppliesNothing(t *testing.T) {
	s, hs := newServer(t, Config{}, cardinality.Limits{})
	good := otlptest.Marshal(exactnessSet())
	bad := append(append([]byte{}, good...), 0x0a, 0x05, 0x01) // a truncated trailing resource_metrics
	resp, body := post(t, hs.URL+"/v1/metrics", bad, map[string]string{"Content-Type": "application/x-protobuf"})
	if resp.StatusCode != 400 || !strings.Contains(body, "malformed") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if s.tracker.Stream(apiv1.DefaultStream) != nil {
		t.Error("a refused request created its stream")
	}
}

// A request with more points than a batch records is applied in a second,
// direct pass, with the same counts.
func TestHugeRequest(t *testing.T) {
	s, hs := newServer(t, Config{MaxBodyBytes: 64 << 20, MaxInflightBytes: 64 << 20}, cardinality.Limits{})
	bodies := otlptest.ProcessFleet(0, 7000, 70_000) // 70k points in one request
	if len(bodies) != 1 {
		t.Fatalf("%d bodies", len(bodies))
	}
	resp, body := post(t, hs.URL+"/v1/metrics", bodies[0], map[string]string{"Content-Type": "application/x-protobuf", apiv1.HeaderStream: "big"})
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	rep := s.tracker.Stream("big").Snapshot().Report(1)
	if rep.ActiveSeries != 70_000 || *rep.NewSeriesPerMin != 70_000 {
		t.Errorf("active %d new %v", rep.ActiveSeries, *rep.NewSeriesPerMin)
	}
	var cpu int64
	for _, m := range rep.Metrics {
		if m.Name == "process.cpu.time" {
			cpu = m.Series
		}
	}
	if cpu != 21_000 {
		t.Errorf("cpu series %d", cpu)
	}
}
