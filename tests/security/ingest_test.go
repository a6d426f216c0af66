package security

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"
	resource "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func kv(k, v string) *common.KeyValue {
	return &common.KeyValue{Key: k, Value: &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v}}}
}

// gauges is one resource (resAttrs) with a gauge metric of n series.
func gauges(metric string, n int, resAttrs ...*common.KeyValue) *colmetrics.ExportMetricsServiceRequest {
	now := uint64(time.Now().UnixNano())
	dps := make([]*metrics.NumberDataPoint, n)
	for i := range dps {
		dps[i] = &metrics.NumberDataPoint{TimeUnixNano: now, Attributes: []*common.KeyValue{kv("i", fmt.Sprint(i))},
			Value: &metrics.NumberDataPoint_AsDouble{AsDouble: float64(i)}}
	}
	return &colmetrics.ExportMetricsServiceRequest{ResourceMetrics: []*metrics.ResourceMetrics{{
		Resource: &resource.Resource{Attributes: append([]*common.KeyValue{kv("host.name", "h1")}, resAttrs...)},
		ScopeMetrics: []*metrics.ScopeMetrics{{Metrics: []*metrics.Metric{{
			Name: metric, Data: &metrics.Metric_Gauge{Gauge: &metrics.Gauge{DataPoints: dps}},
		}}}},
	}}}
}

// otlpAnswer is what OTLP/HTTP said: the status, the partial success (when
// 200) and the body otherwise.
type otlpAnswer struct {
	status   int
	rejected int64
	message  string
	body     string
}

func otlpHTTP(t *testing.T, p *phoenix, key, stream string, req *colmetrics.ExportMetricsServiceRequest) otlpAnswer {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + p.otlpHTTP + "/v1/metrics"
	if stream != "" {
		u += "?stream=" + url.QueryEscape(stream)
	}
	status, body := ingestPost(t, u, key, "application/x-protobuf", "", b)
	a := otlpAnswer{status: status, body: string(body)}
	if status == http.StatusOK && len(body) > 0 {
		var resp colmetrics.ExportMetricsServiceResponse
		if err := proto.Unmarshal(body, &resp); err != nil {
			t.Fatalf("decode OTLP answer: %v", err)
		}
		a.rejected, a.message = resp.GetPartialSuccess().GetRejectedDataPoints(), resp.GetPartialSuccess().GetErrorMessage()
	}
	return a
}

func ingestPost(t *testing.T, u, key, contentType, encoding string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req) // hang guard
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// remoteWrite sends one series per metric name (remote write 1.0).
func remoteWrite(t *testing.T, p *phoenix, key, stream string, names ...string) (int, string) {
	t.Helper()
	var req []byte
	for _, n := range names {
		var ts []byte
		for _, l := range [][2]string{{"__name__", n}, {"job", "sec"}} {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l[0])
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l[1])
			ts = protowire.AppendTag(ts, 1, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lb)
		}
		var sb []byte
		sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
		sb = protowire.AppendFixed64(sb, math.Float64bits(1))
		sb = protowire.AppendTag(sb, 2, protowire.VarintType)
		sb = protowire.AppendVarint(sb, uint64(time.Now().UnixMilli()))
		ts = protowire.AppendTag(ts, 2, protowire.BytesType)
		ts = protowire.AppendBytes(ts, sb)
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, ts)
	}
	status, body := ingestPost(t, "http://"+p.otlpHTTP+"/api/v1/write?stream="+url.QueryEscape(stream), key,
		"application/x-protobuf", "snappy", snappy.Encode(nil, req))
	return status, string(body)
}

func grpcExport(t *testing.T, p *phoenix, key, stream string, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(p.otlpGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard
	defer cancel()
	md := metadata.Pairs("authorization", "Bearer "+key)
	if stream != "" {
		md.Append("x-phoenix-stream", stream)
	}
	return colmetrics.NewMetricsServiceClient(conn).Export(metadata.NewOutgoingContext(ctx, md), req)
}

// inventory is the part of a stream's cardinality view the tests read.
type inventory struct {
	ActiveSeries int64 `json:"active_series"`
	Metrics      []struct {
		Name   string `json:"name"`
		Series int64  `json:"series"`
	} `json:"metrics"`
}

func (p *phoenix) inventory(t *testing.T, stream string) (int, inventory, string) {
	t.Helper()
	status, body := p.call(t, http.MethodGet, "/api/v1/streams/"+url.PathEscape(stream)+"/cardinality", p.admin, nil)
	var inv inventory
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &inv); err != nil {
			t.Fatalf("decode cardinality of %s: %v", stream, err)
		}
	}
	return status, inv, string(body)
}

// TestCrossTeamWritesRefused (issue 14 §1): team B's ingest key cannot add
// series to team A's stream, named by ?stream=, by the gRPC metadata key,
// by remote write, or by the experiment resource attributes; and nothing
// of the attempts is counted.
func TestCrossTeamWritesRefused(t *testing.T) {
	p := sharedPhoenix(t)
	keyA := p.teamKey(t, "xteam-a", "viewer", "ingest") // a viewer-role ingest key may ingest (docs/analytics.md)
	keyB := p.teamKey(t, "xteam-b", "operator", "ingest")

	// Team A creates its streams: a plain one and an experiment variant.
	if a := otlpHTTP(t, p, keyA, "xa-stream", gauges("owned", 3)); a.status != http.StatusOK || a.rejected != 0 {
		t.Fatalf("team A into its own stream: %+v", a)
	}
	if a := otlpHTTP(t, p, keyA, "xa--candidate", gauges("owned", 3)); a.status != http.StatusOK || a.rejected != 0 {
		t.Fatalf("team A into its experiment stream: %+v", a)
	}

	t.Run("OTLP/HTTP ?stream=", func(t *testing.T) {
		if a := otlpHTTP(t, p, keyB, "xa-stream", gauges("intruder", 5)); a.status != http.StatusForbidden {
			t.Fatalf("team B into team A's stream: %+v, want 403", a)
		}
	})
	t.Run("OTLP/HTTP experiment attributes", func(t *testing.T) {
		req := gauges("intruder", 5, kv("phoenix.experiment.id", "xa"), kv("phoenix.variant", "candidate"))
		if a := otlpHTTP(t, p, keyB, "", req); a.status != http.StatusForbidden {
			t.Fatalf("team B into team A's variant stream by attributes: %+v, want 403", a)
		}
	})
	t.Run("remote write", func(t *testing.T) {
		if status, body := remoteWrite(t, p, keyB, "xa-stream", "intruder"); status != http.StatusForbidden {
			t.Fatalf("team B remote write into team A's stream: %d %s, want 403", status, body)
		}
	})
	t.Run("OTLP/gRPC metadata", func(t *testing.T) {
		_, err := grpcExport(t, p, keyB, "xa-stream", gauges("intruder", 5))
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("team B over gRPC into team A's stream: %v, want PERMISSION_DENIED", err)
		}
	})
	t.Run("team B may still write its own stream", func(t *testing.T) {
		if a := otlpHTTP(t, p, keyB, "xb-stream", gauges("own", 2)); a.status != http.StatusOK || a.rejected != 0 {
			t.Fatalf("team B into its own stream: %+v", a)
		}
	})

	// Nothing of team B's attempts was counted in team A's streams.
	for _, stream := range []string{"xa-stream", "xa--candidate"} {
		status, inv, body := p.inventory(t, stream)
		if status != http.StatusOK {
			t.Fatalf("cardinality of %s: %d %s", stream, status, body)
		}
		if inv.ActiveSeries != 3 || len(inv.Metrics) != 1 || inv.Metrics[0].Name != "owned" {
			t.Errorf("%s holds %d series in %+v, want team A's 3 of metric owned only", stream, inv.ActiveSeries, inv.Metrics)
		}
	}
}

// TestStreamFloodLeavesOtherTeams (issue 14 §2): one team creating streams
// as fast as it can is stopped by its own quota, naming it, and another
// team can still create streams afterwards.
func TestStreamFloodLeavesOtherTeams(t *testing.T) {
	p := sharedPhoenix(t)
	flooder := p.teamKey(t, "flood-a", "operator", "ingest")
	neighbour := p.teamKey(t, "flood-b", "operator", "ingest")

	accepted, refused := 0, 0
	var lastRefusal string
	for i := range 4 * teamMaxStreams {
		a := otlpHTTP(t, p, flooder, fmt.Sprintf("flood-%03d", i), gauges("m", 1))
		switch {
		case a.status == http.StatusOK && a.rejected == 0:
			accepted++
		case a.status == http.StatusOK && a.rejected > 0:
			refused++
			lastRefusal = a.message
		default:
			t.Fatalf("stream %d: %+v", i, a)
		}
	}
	if accepted != teamMaxStreams || refused != 3*teamMaxStreams {
		t.Fatalf("flood: %d streams accepted and %d refused, want %d and %d (the team quota)", accepted, refused, teamMaxStreams, 3*teamMaxStreams)
	}
	if !strings.Contains(lastRefusal, "team_stream_quota") {
		t.Errorf("refusal %q does not name the quota team_stream_quota", lastRefusal)
	}
	for i := range teamMaxStreams {
		if a := otlpHTTP(t, p, neighbour, fmt.Sprintf("calm-%03d", i), gauges("m", 1)); a.status != http.StatusOK || a.rejected != 0 {
			t.Fatalf("the neighbour's stream %d after the flood: %+v", i, a)
		}
	}
	if status, inv, body := p.inventory(t, "calm-000"); status != http.StatusOK || inv.ActiveSeries != 1 {
		t.Fatalf("the neighbour's stream: %d %s", status, body)
	}
}

// TestHugeNamesRefused (issue 14 §3): a 1 MiB metric name, label name or
// label value is refused (OTLP partial success naming the reason; remote
// write 400), the rest of the request is taken, and the stream's
// cardinality view still answers (before, its reply overflowed the bus and
// the gateway answered 503).
func TestHugeNamesRefused(t *testing.T) {
	p := sharedPhoenix(t)
	key := p.teamKey(t, "huge", "operator", "ingest")
	huge := strings.Repeat("n", 1<<20)

	tests := []struct {
		name   string
		req    *colmetrics.ExportMetricsServiceRequest
		reason string
	}{
		{"metric name", gauges(huge, 1), "metric_name_too_long"},
		{"label name", gauges("ok_metric", 1, kv(huge, "v")), "label_name_too_long"},
		{"label value", gauges("ok_metric", 1, kv("k", huge)), "label_value_too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Beside the huge one, a normal metric in its own resource is taken.
			tt.req.ResourceMetrics = append(tt.req.ResourceMetrics, gauges("fine", 2).ResourceMetrics...)
			a := otlpHTTP(t, p, key, "huge-names", tt.req)
			if a.status != http.StatusOK || a.rejected != 1 || !strings.Contains(a.message, tt.reason) {
				t.Fatalf("got %d, %d rejected, %q; want 200 with 1 rejected for %s", a.status, a.rejected, a.message, tt.reason)
			}
		})
	}
	t.Run("remote write metric name", func(t *testing.T) {
		if status, body := remoteWrite(t, p, key, "huge-names", huge); status != http.StatusBadRequest || !strings.Contains(body, "metric_name") && !strings.Contains(body, "max_metric_name_bytes") {
			t.Fatalf("remote write of a 1 MiB name: %d %.300s, want 400 naming the limit", status, body)
		}
	})

	// The view answers (no 503), and holds only names within the limit.
	status, inv, body := p.inventory(t, "huge-names")
	if status != http.StatusOK {
		t.Fatalf("cardinality view after 1 MiB names: %d %.300s, want 200", status, body)
	}
	for _, m := range inv.Metrics {
		if len(m.Name) > 256 {
			t.Errorf("a %d-byte metric name was stored", len(m.Name))
		}
	}
	if len(body) > 64<<10 {
		t.Errorf("cardinality view of two small metrics is %d bytes", len(body))
	}
}
