package security

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestDatapointFloodThrottled (issue 14 §2, datapoints/s): team A sending
// as fast as it can is throttled at its quota (429 with Retry-After naming
// team_datapoint_quota; gRPC RESOURCE_EXHAUSTED with RetryInfo) and takes
// no more than its burst plus its rate over the time it flooded, while
// team B, sending within its own quota meanwhile, loses nothing. The
// refusals are counted in phoenix_analytics_datapoints_rejected_total.
func TestDatapointFloodThrottled(t *testing.T) {
	p := sharedPhoenix(t)
	flooder := p.teamKey(t, "dps-a", "operator", "ingest")
	neighbour := p.teamKey(t, "dps-b", "operator", "ingest")
	const perRequest = 500
	flood := gauges("flood", perRequest)
	burst := 10 * teamMaxDatapointsPerSecond

	start := time.Now()
	taken, throttled, bAccepted := 0, 0, 0
	var retryAfter, message string
	for i := 0; i < 40 && throttled < 5; i++ {
		b, err := proto.Marshal(flood)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, "http://"+p.otlpHTTP+"/v1/metrics?stream=dps-a", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+flooder)
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req) // hang guard
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			taken += perRequest
		case http.StatusTooManyRequests:
			throttled++
			retryAfter, message = resp.Header.Get("Retry-After"), string(body)
		default:
			t.Fatalf("flood request %d: %d %s", i, resp.StatusCode, body)
		}
		// Team B sends 20 points per flood request: within its quota.
		if a := otlpHTTP(t, p, neighbour, "dps-b", gauges("calm", 20)); a.status != http.StatusOK || a.rejected != 0 {
			t.Fatalf("team B during team A's flood (request %d): %+v", i, a)
		}
		bAccepted++
	}
	elapsed := time.Since(start)
	if throttled == 0 {
		t.Fatalf("team A took %d points in %s and was never throttled (quota %d/s, burst %d)", taken, elapsed, teamMaxDatapointsPerSecond, burst)
	}
	if limit := burst + int(elapsed.Seconds()*teamMaxDatapointsPerSecond) + perRequest; taken > limit {
		t.Errorf("team A took %d points in %s, more than its burst plus its rate (%d)", taken, elapsed, limit)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Errorf("Retry-After %q, want a whole number of seconds", retryAfter)
	}
	if !strings.Contains(message, "team_datapoint_quota") || !strings.Contains(message, "team_max_datapoints_per_second") {
		t.Errorf("429 body %q does not name the quota", message)
	}
	t.Logf("team A: %d points taken, %d requests throttled in %s; team B: %d requests all taken", taken, throttled, elapsed, bAccepted)

	// gRPC: RESOURCE_EXHAUSTED with RetryInfo, so OTLP exporters retry.
	// (Taken exports deepen the debt; a loaded machine may have paid it back.)
	var err error
	for range 10 {
		if _, err = grpcExport(t, p, flooder, "dps-a", flood); err != nil {
			break
		}
	}
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("gRPC flood: %v, retry info %v; want RESOURCE_EXHAUSTED with RetryInfo", err, retry)
	}
	// Remote write: 429 with Retry-After.
	if status, body := remoteWrite(t, p, flooder, "dps-a", "up"); status != http.StatusTooManyRequests {
		t.Errorf("remote write during the flood: %d %s, want 429", status, body)
	}

	// Team B's figures hold all it sent.
	if status, inv, body := p.inventory(t, "dps-b"); status != http.StatusOK || inv.ActiveSeries != 20 {
		t.Errorf("team B's stream: %d %s, want 20 active series", status, body)
	}
	// The refusals are counted.
	resp, err := http.Get("http://" + p.otlpHTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`phoenix_analytics_datapoints_rejected_total\{reason="team_datapoint_quota"\} (\S+)`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("no team_datapoint_quota refusals in /metrics")
	}
	if n, _ := strconv.ParseFloat(string(m[1]), 64); n < float64(throttled*perRequest) {
		t.Errorf("phoenix_analytics_datapoints_rejected_total{reason=\"team_datapoint_quota\"} = %s, want at least %d", m[1], throttled*perRequest)
	}
}
