package ingest

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"
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

// Keys of two teams, as platform-api would resolve them.
var ownershipKeys = map[string]apiv1.Principal{
	"phx_a":      {Subject: "ka", Kind: "api_key", Role: "operator", Teams: []string{"team-a"}, Scopes: []string{"ingest"}},
	"phx_a_view": {Subject: "kav", Kind: "api_key", Role: "viewer", Teams: []string{"team-a"}, Scopes: []string{"ingest"}},
	"phx_b":      {Subject: "kb", Kind: "api_key", Role: "operator", Teams: []string{"team-b"}, Scopes: []string{"ingest"}},
	"phx_ab":     {Subject: "kab", Kind: "api_key", Role: "operator", Teams: []string{"team-b", "team-a"}, Scopes: []string{"ingest"}},
	"phx_admin":  {Subject: "kadm", Kind: "api_key", Role: "admin", Teams: []string{"ops"}, Scopes: []string{"ingest"}},
	"phx_none":   {Subject: "knone", Kind: "api_key", Role: "operator", Scopes: []string{"ingest"}},
}

// variantReq is one resource routed to exp1--candidate by its attributes
// and, when own is set, one more resource for the request's stream.
func variantReq(own bool) *colmetrics.ExportMetricsServiceRequest {
	rms := []*metrics.ResourceMetrics{otlptest.RM([]*common.KeyValue{
		kv("host.name", "evil"), kv(apiv1.AttrExperimentID, "exp1"), kv(apiv1.AttrVariant, "candidate"),
	}, otlptest.Gauge("up", 1, nil, nil), otlptest.Gauge("mem", 1, nil))}
	if own {
		rms = append(rms, otlptest.RM([]*common.KeyValue{kv("host.name", "b1")}, otlptest.Gauge("up", 1, nil)))
	}
	return otlptest.Request(rms...)
}

// TestCrossTeamWritesRefused: a stream belongs to the team that created
// it; another team's writes are refused on every protocol and leave the
// stream exactly as it was.
func TestCrossTeamWritesRefused(t *testing.T) {
	s, hs := newServer(t, Config{Auth: NewBusAuth(&fakeBus{ok: ownershipKeys}, time.Second)}, cardinality.Limits{})
	otlpHdr := func(key, stream string) map[string]string {
		return withHeader(map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + key}, apiv1.HeaderStream, stream)
	}
	// Team A creates its stream and an experiment variant stream.
	for _, h := range []map[string]string{otlpHdr("phx_a", "a1"), otlpHdr("phx_a", "")} {
		req := exactnessSet()
		if h[apiv1.HeaderStream] == "" {
			req = variantReq(false)
		}
		if resp, body := post(t, hs.URL+"/v1/metrics", otlptest.Marshal(req), h); resp.StatusCode != 200 || body != "" {
			t.Fatalf("team A's own write: %d %q", resp.StatusCode, body)
		}
	}
	before := map[string]apiv1.CardinalityReport{}
	for _, id := range []string{"a1", "exp1--candidate"} {
		st := s.tracker.Stream(id)
		if st == nil || st.Team() != "team-a" {
			t.Fatalf("stream %s: %+v", id, st)
		}
		before[id] = st.Snapshot().Report(10)
	}
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "evil"}, {"job", "x"}}, Samples: []float64{1, 2}}))
	rwHdr := func(key, stream string) map[string]string {
		return withHeader(map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "Authorization": "Bearer " + key}, apiv1.HeaderStream, stream)
	}

	cases := []struct {
		name      string
		path      string
		body      []byte
		hdr       map[string]string
		status    int
		rejected  int64  // OTLP partial success
		substr    string // in the body or partial success message
		problem   bool   // a problem+json body
		ownStream string // a stream of team B that must hold data afterwards
	}{
		{"otlp header into A's stream", "/v1/metrics", otlptest.Marshal(exactnessSet()), otlpHdr("phx_b", "a1"), 403, 0, "a1", true, ""},
		{"otlp query into A's stream", "/v1/metrics?stream=a1", otlptest.Marshal(exactnessSet()), otlpHdr("phx_b", ""), 403, 0, "a1", true, ""},
		{"otlp variant attributes only", "/v1/metrics", otlptest.Marshal(variantReq(false)), otlpHdr("phx_b", "b1"), 403, 0, "exp1--candidate", true, ""},
		{"otlp variant attributes beside own data", "/v1/metrics", otlptest.Marshal(variantReq(true)), otlpHdr("phx_b", "b1"), 200, 3, "exp1--candidate", false, "b1"},
		{"remote write header", "/api/v1/write", rw, rwHdr("phx_b", "a1"), 403, 0, "a1", true, ""},
		{"remote write query", "/api/v1/write?stream=a1", rw, rwHdr("phx_b", ""), 403, 0, "a1", true, ""},
		{"team-less key", "/v1/metrics", otlptest.Marshal(exactnessSet()), otlpHdr("phx_none", "n1"), 403, 0, "no team", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := post(t, hs.URL+c.path, c.body, c.hdr)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, c.status)
			}
			msg := body
			if c.status == 200 {
				var out colmetrics.ExportMetricsServiceResponse
				if err := proto.Unmarshal([]byte(body), &out); err != nil {
					t.Fatal(err)
				}
				if got := out.GetPartialSuccess().GetRejectedDataPoints(); got != c.rejected {
					t.Errorf("rejected %d, want %d", got, c.rejected)
				}
				msg = out.GetPartialSuccess().GetErrorMessage()
			}
			if !strings.Contains(msg, c.substr) {
				t.Errorf("%q does not name %q", msg, c.substr)
			}
			if c.problem {
				var p map[string]any
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil || p["status"] != float64(403) {
					t.Errorf("not a 403 problem: %s %s", ct, body)
				}
			}
			if c.ownStream != "" {
				if st := s.tracker.Stream(c.ownStream); st == nil || st.Team() != "team-b" || st.Snapshot().Report(1).ActiveSeries != 1 {
					t.Errorf("team B's own resource was not applied to %s", c.ownStream)
				}
			}
		})
	}
	if s.tracker.Stream("n1") != nil {
		t.Error("the team-less key created a stream")
	}

	// gRPC: PERMISSION_DENIED when every resource is refused, partial
	// success naming the refused stream otherwise.
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
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer phx_b", "x-phoenix-stream", "a1")
	if _, err := cl.Export(ctx, exactnessSet()); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "a1") {
		t.Errorf("grpc into A's stream: %v", err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "bearer phx_b", "x-phoenix-stream", "b1")
	out, err := cl.Export(ctx, variantReq(true))
	if err != nil || out.GetPartialSuccess().GetRejectedDataPoints() != 3 || !strings.Contains(out.GetPartialSuccess().GetErrorMessage(), "exp1--candidate") {
		t.Errorf("grpc mixed: %v %v", out, err)
	}

	// Nothing of team B's reached team A's streams, not even a refusal count.
	for id, want := range before {
		got := s.tracker.Stream(id).Snapshot().Report(10)
		if got.ActiveSeries != want.ActiveSeries || len(got.Metrics) != len(want.Metrics) || got.Refused[cardinality.RefusedForbidden] != 0 {
			t.Errorf("%s changed: %d series %d metrics %v, was %d %d", id, got.ActiveSeries, len(got.Metrics), got.Refused, want.ActiveSeries, len(want.Metrics))
		}
		for _, m := range got.Metrics {
			if m.Name == "evil" {
				t.Errorf("%s holds team B's metric", id)
			}
		}
	}
	if s.tracker.Refused()[cardinality.RefusedForbidden] == 0 {
		t.Error("refusals not counted tracker-wide")
	}
}

// TestIngestRoles: the ingest scope grants ingest whatever the key's role
// (a viewer-role key included), within the key's teams; admins write
// anywhere, as they read anywhere.
func TestIngestRoles(t *testing.T) {
	s, hs := newServer(t, Config{Auth: NewBusAuth(&fakeBus{ok: ownershipKeys}, time.Second)}, cardinality.Limits{})
	pb := otlptest.Marshal(exactnessSet())
	hdr := func(key, stream string) map[string]string {
		return map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + key, apiv1.HeaderStream: stream}
	}
	if resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr("phx_a", "a1")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	for _, c := range []struct {
		key, stream string
		status      int
		owner       string
	}{
		{"phx_a_view", "a1", 200, "team-a"}, // viewer role, same team
		{"phx_a_view", "av", 200, "team-a"}, // a viewer-role key creates streams for its team
		{"phx_ab", "a1", 200, "team-a"},     // member of both
		{"phx_ab", "ab", 200, "team-b"},     // new streams belong to the key's first team
		{"phx_admin", "a1", 200, "team-a"},  // admins are in every team
		{"phx_admin", "adm", 200, "ops"},    // and own what they create by their first team
		{"phx_b", "av", 403, "team-a"},      // a viewer's stream is its team's
		{"phx_a_view", "adm", 403, "ops"},   // an admin's stream is its team's
	} {
		resp, body := post(t, hs.URL+"/v1/metrics", pb, hdr(c.key, c.stream))
		if resp.StatusCode != c.status {
			t.Errorf("%s into %s: %d %s, want %d", c.key, c.stream, resp.StatusCode, body, c.status)
		}
		if st := s.tracker.Stream(c.stream); st == nil || st.Team() != c.owner {
			t.Errorf("%s: owner %+v, want %s", c.stream, st, c.owner)
		}
	}
}

// TestBearerScheme: the scheme is case-insensitive (RFC 9110 §11.1) and
// every 401 carries a Bearer challenge, with error="invalid_token" when a
// token was given (RFC 6750 §3).
func TestBearerScheme(t *testing.T) {
	_, hs := newServer(t, Config{Auth: NewBusAuth(&fakeBus{ok: ownershipKeys}, time.Second)}, cardinality.Limits{})
	pb := otlptest.Marshal(exactnessSet())
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}}, Samples: []float64{1}}))
	for _, c := range []struct {
		authz     string
		status    int
		challenge string
	}{
		{"Bearer phx_a", 200, ""},
		{"bearer phx_a", 200, ""},
		{"BEARER   phx_a ", 200, ""},
		{"", 401, `Bearer realm="phoenix-ingest"`},
		{"Bearer", 401, `Bearer realm="phoenix-ingest"`},
		{"Bearer ", 401, `Bearer realm="phoenix-ingest"`},
		{"Basic YTpi", 401, `Bearer realm="phoenix-ingest"`},
		{"Bearerphx_a", 401, `Bearer realm="phoenix-ingest"`},
		{"Bearer phx_wrong", 401, `Bearer realm="phoenix-ingest", error="invalid_token"`},
		{"bearer phx_wrong", 401, `Bearer realm="phoenix-ingest", error="invalid_token"`}, // cached answer
	} {
		for _, ep := range []struct {
			path string
			hdr  map[string]string
			ok   int
		}{
			{"/v1/metrics", map[string]string{"Content-Type": "application/x-protobuf"}, 200},
			{"/api/v1/write", map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}, 204},
		} {
			body := pb
			if ep.ok == 204 {
				body = rw
			}
			want := c.status
			if want == 200 {
				want = ep.ok
			}
			resp, text := post(t, hs.URL+ep.path, body, withHeader(ep.hdr, "Authorization", c.authz))
			if resp.StatusCode != want || resp.Header.Get("WWW-Authenticate") != c.challenge {
				t.Errorf("%s %q: %d %q challenge %q, want %d %q", ep.path, c.authz, resp.StatusCode, text, resp.Header.Get("WWW-Authenticate"), want, c.challenge)
			}
		}
	}
}
