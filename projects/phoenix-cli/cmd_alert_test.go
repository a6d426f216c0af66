package phoenixcli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const alertJSON = `{"id":"al-019af0c2a1b2c3d4e5","rule":"explosion","severity":"high","state":"%s","stream":"checkout","team":"team-a",
"metric":"http.server.duration","label":"request_id","signal":"active_series",
"summary":"label request_id on http.server.duration: +12,400 values in 5m0s, 91% of new series","value":14400,"baseline":2000,
"started_at":"2026-12-07T12:00:00Z","updated_at":"2026-12-07T12:01:00Z","acknowledged_at":null,"resolved_at":null}`

func TestAlertCommands(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		one := func(state string) { _, _ = w.Write([]byte(strings.Replace(alertJSON, "%s", state, 1))) }
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/alerts":
			_, _ = w.Write([]byte(`{"items":[` + strings.Replace(alertJSON, "%s", "firing", 1) + `],"next_cursor":"al-019af0c2a1b2c3d4e5"}`))
		case r.Method == "GET" && r.URL.Path == "/api/v1/alerts/al-019af0c2a1b2c3d4e5":
			one("firing")
		case r.Method == "POST" && r.URL.Path == "/api/v1/alerts/al-019af0c2a1b2c3d4e5/ack":
			one("acknowledged")
		case r.Method == "POST" && r.URL.Path == "/api/v1/alerts/al-019af0c2a1b2c3d4e5/resolve":
			one("resolved")
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"title":"Not Found","detail":"alert not found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	cases := []struct {
		args []string
		want []string
		req  string
	}{
		{[]string{"alert", "list", "--state", "firing", "--stream", "checkout"},
			[]string{"al-019af0c2a1b2c3d4e5", "firing", "explosion", "label request_id on http.server.duration", "more: --cursor al-019af0c2a1b2c3d4e5"},
			"GET /api/v1/alerts?state=firing&stream=checkout"},
		{[]string{"alert", "get", "al-019af0c2a1b2c3d4e5"}, []string{"METRIC", "http.server.duration", "LABEL", "request_id"},
			"GET /api/v1/alerts/al-019af0c2a1b2c3d4e5"},
		{[]string{"alert", "ack", "al-019af0c2a1b2c3d4e5"}, []string{"acknowledged"}, "POST /api/v1/alerts/al-019af0c2a1b2c3d4e5/ack"},
		{[]string{"alert", "resolve", "al-019af0c2a1b2c3d4e5"}, []string{"resolved"}, "POST /api/v1/alerts/al-019af0c2a1b2c3d4e5/resolve"},
	}
	for _, c := range cases {
		seen = nil
		out, _, err := runCLI(t, append(c.args, api)...)
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
	out, _, err := runCLI(t, "alert", "get", "al-019af0c2a1b2c3d4e5", api, "-o", "json")
	var a map[string]any
	if err != nil || json.Unmarshal([]byte(out), &a) != nil || a["label"] != "request_id" || a["state"] != "firing" {
		t.Errorf("get -o json: %v %s", err, out)
	}
	if _, _, err := runCLI(t, "alert", "ack", "al-missing", api); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("ack missing: %v", err)
	}
}
