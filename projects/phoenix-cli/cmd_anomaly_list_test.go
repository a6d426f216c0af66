package phoenixcli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// anomalyPointJSON is the spike of projects/anomaly-detector's
// TestListAnomalies as the API answered it.
const anomalyPointJSON = `{"time":"2026-12-07T05:01:00Z","stream":"checkout","signal":"active_series","value":18206,"score":0.915,
"threshold":0.5,"above_threshold":true,"labelled":true,"components":{"robust_z":1,"seasonal":1,"cusum":0.0667,"forest":0.5756}}`

func TestAnomalyListCommand(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/anomalies" && r.URL.Query().Get("stream") == "checkout" {
			_, _ = w.Write([]byte(`{"items":[` + anomalyPointJSON + `],"next_cursor":"1796878860000000000.active_series"}`))
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"status":404,"title":"Not Found","detail":"no scored rollups of stream other"}`))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	cases := []struct {
		args []string
		want []string
		req  string
	}{
		{[]string{"--stream", "checkout"}, []string{"active_series", "18206", "0.915", "true", "more: --cursor 1796878860000000000.active_series"},
			"GET /api/v1/anomalies?stream=checkout"},
		{[]string{"--stream", "checkout", "--since", "1h", "--min-score", "0.5", "--limit", "10"}, []string{"0.915"},
			"GET /api/v1/anomalies?limit=10&min_score=0.5&since=1h&stream=checkout"},
	}
	for _, c := range cases {
		seen = nil
		out, _, err := runCLI(t, append(append([]string{"anomaly", "list"}, c.args...), api)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		if len(seen) != 1 || seen[0] != c.req {
			t.Errorf("%v: requests %v, want %q", c.args, seen, c.req)
		}
	}
	out, _, err := runCLI(t, "anomaly", "list", "--stream", "checkout", api, "-o", "json")
	var l struct {
		Items []map[string]any `json:"items"`
	}
	if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l.Items) != 1 || l.Items[0]["labelled"] != true {
		t.Errorf("-o json: %v %s", err, out)
	}
	for _, bad := range [][]string{{}, {"--stream", "checkout", "--min-score", "2"}} {
		seen = nil
		if _, _, err := runCLI(t, append(append([]string{"anomaly", "list"}, bad...), api)...); err == nil || len(seen) != 0 {
			t.Errorf("%v: err %v, requests %v; want refused before any request", bad, err, seen)
		}
	}
	if _, _, err := runCLI(t, "anomaly", "list", "--stream", "other", api); err == nil || !strings.Contains(err.Error(), "no scored rollups") {
		t.Errorf("other stream: %v", err)
	}
}
