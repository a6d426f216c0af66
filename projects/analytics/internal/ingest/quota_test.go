package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestTeamQuotas: one team's flood of streams and series stops at its
// quota, named in the refusal, and leaves another team able to create
// streams and hold its series exactly; a per-team override applies.
func TestTeamQuotas(t *testing.T) {
	s, hs := newServer(t, Config{Auth: NewBusAuth(&fakeBus{ok: ownershipKeys}, time.Second)}, cardinality.Limits{
		MaxStreams: 20,
		TeamQuota:  cardinality.TeamQuota{MaxStreams: 5, MaxSeries: 12},
		TeamQuotas: map[string]cardinality.TeamQuota{"team-b": {MaxStreams: 8}},
	})
	pb := otlptest.Marshal(exactnessSet()) // 8 series, 11 points
	send := func(key, stream string) (int, *colmetrics.ExportMetricsPartialSuccess) {
		resp, body := post(t, hs.URL+"/v1/metrics", pb, map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + key, apiv1.HeaderStream: stream})
		var out colmetrics.ExportMetricsServiceResponse
		if err := proto.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		return resp.StatusCode, out.GetPartialSuccess()
	}
	// Team A floods: 30 streams, 5 taken.
	taken := 0
	for i := range 30 {
		code, ps := send("phx_a", fmt.Sprintf("a%d", i))
		switch {
		case code == 200 && ps == nil:
			taken++
		case code == 200 && ps.GetRejectedDataPoints() == 11 && strings.Contains(ps.GetErrorMessage(), cardinality.RefusedTeamStreams) &&
			strings.Contains(ps.GetErrorMessage(), "analytics.team_max_streams"):
		default:
			t.Fatalf("a%d: %d %v", i, code, ps)
		}
	}
	if streams, series, _ := s.tracker.TeamUsage("team-a"); taken != 5 || streams != 5 || series != 12 {
		t.Fatalf("team A: %d taken, usage %d streams %d series", taken, streams, series)
	}
	// Its series stop at 12 exact: the second stream sketches 4 of its 8.
	if rep := s.tracker.Stream("a1").Snapshot().Report(1); rep.TrackedSeries != 4 || rep.Refused[cardinality.SketchedTeamSeries] == 0 {
		t.Errorf("a1: %d tracked, refused %v", rep.TrackedSeries, rep.Refused)
	}
	// Remote write names the quota too.
	rw := snappy.Encode(nil, otlptest.RemoteWrite(otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}}, Samples: []float64{1}}))
	resp, body := post(t, hs.URL+"/api/v1/write?stream=a-rw", rw, map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "Authorization": "Bearer phx_a"})
	if resp.StatusCode != 400 || !strings.Contains(body, cardinality.RefusedTeamStreams) {
		t.Errorf("rw over the quota: %d %s", resp.StatusCode, body)
	}
	// Team B is unaffected, with its own (overridden) quota.
	for i := range 9 {
		code, ps := send("phx_b", fmt.Sprintf("b%d", i))
		if want := i < 8; code != 200 || (ps == nil) != want {
			t.Fatalf("b%d: %d %v", i, code, ps)
		}
	}
	if rep := s.tracker.Stream("b0").Snapshot().Report(1); rep.TrackedSeries != 8 || !rep.Exact {
		t.Errorf("b0: %d tracked, exact %v", rep.TrackedSeries, rep.Exact)
	}
	// A forgotten stream gives its share back.
	s.tracker.Remove("a0")
	if streams, series, _ := s.tracker.TeamUsage("team-a"); streams != 4 || series != 4 {
		t.Errorf("after removing a0: %d streams %d series", streams, series)
	}
	if code, ps := send("phx_a", "a-new"); code != 200 || ps != nil {
		t.Errorf("team A after a removal: %d %v", code, ps)
	}
}
