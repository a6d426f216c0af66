package phoenixcli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestAlertingCommands runs alert-rule, silence and channel commands against
// a fake API that records each request and its body.
func TestAlertingCommands(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
		body map[string]any
	)
	const rule = `{"id":"ar-1","name":"budget","team":"team-a","stream":"","kind":"max_active_series","severity":"critical","threshold":10000,"created_at":"2026-12-07T12:00:00Z","created_by":"alice"}`
	const silence = `{"id":"si-1","team":"team-a","stream":"checkout","starts_at":"2026-12-07T12:00:00Z","ends_at":"2026-12-07T14:00:00Z","created_at":"2026-12-07T12:00:00Z","created_by":"alice"}`
	const channel = `{"id":"ch-1","name":"ops","team":"team-a","type":"webhook","url":"https://hooks.example.com/x","has_secret":true,"severities":["critical"],"streams":[],"allow_private":false,"created_at":"2026-12-07T12:00:00Z","created_by":"alice"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		body = nil
		_ = json.Unmarshal(b, &body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/v1/alert-rules":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(rule))
		case "GET /api/v1/alert-rules/ar-1":
			_, _ = w.Write([]byte(rule))
		case "GET /api/v1/alert-rules":
			_, _ = w.Write([]byte(`{"items":[` + rule + `],"next_cursor":null}`))
		case "POST /api/v1/silences":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(silence))
		case "GET /api/v1/silences":
			_, _ = w.Write([]byte(`{"items":[` + silence + `],"next_cursor":null}`))
		case "POST /api/v1/channels":
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(channel))
		case "GET /api/v1/channels", "GET /api/v1/channels/ch-1":
			if r.URL.Path == "/api/v1/channels" {
				_, _ = w.Write([]byte(`{"items":[` + channel + `],"next_cursor":null}`))
			} else {
				_, _ = w.Write([]byte(channel))
			}
		case "POST /api/v1/channels/ch-1/test":
			_, _ = w.Write([]byte(`{"alert_id":"test-ch-1","channel_id":"ch-1","event":"test","status":"delivered","attempts":1,"http_status":200,"updated_at":"2026-12-07T12:00:00Z"}`))
		case "POST /api/v1/channels/ch-2/test":
			_, _ = w.Write([]byte(`{"alert_id":"test-ch-2","channel_id":"ch-2","event":"test","status":"failed","attempts":1,"http_status":500,"error":"receiver answered 500","updated_at":"2026-12-07T12:00:00Z"}`))
		case "DELETE /api/v1/alert-rules/ar-1", "DELETE /api/v1/silences/si-1", "DELETE /api/v1/channels/ch-1":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"title":"Not Found"}`))
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	t.Setenv("HOOK_SECRET", "s3cret")
	api := "--api-url=" + srv.URL
	for _, c := range []struct {
		args     []string
		req      string
		want     []string
		bodyWant map[string]any
	}{
		{[]string{"alert-rule", "create", "budget", "--kind", "max_active_series", "--threshold", "10000", "--severity", "critical", "--team", "team-a"},
			"POST /api/v1/alert-rules?team=team-a", []string{"ar-1", "(all)", "10000"},
			map[string]any{"name": "budget", "kind": "max_active_series", "threshold": 10000.0, "severity": "critical"}},
		{[]string{"alert-rule", "list"}, "GET /api/v1/alert-rules", []string{"ar-1", "max_active_series"}, nil},
		{[]string{"alert-rule", "get", "ar-1"}, "GET /api/v1/alert-rules/ar-1", []string{"budget", "alice"}, nil},
		{[]string{"alert-rule", "delete", "ar-1"}, "DELETE /api/v1/alert-rules/ar-1", []string{"deleted", "ar-1"}, nil},
		{[]string{"silence", "create", "--duration", "2h", "--stream", "checkout"}, "POST /api/v1/silences", []string{"si-1", "stream=checkout"},
			map[string]any{"duration": "2h", "stream": "checkout"}},
		{[]string{"silence", "list", "--active"}, "GET /api/v1/silences?active=true", []string{"si-1"}, nil},
		{[]string{"silence", "delete", "si-1"}, "DELETE /api/v1/silences/si-1", []string{"si-1"}, nil},
		{[]string{"channel", "create", "ops", "--type", "webhook", "--url", "https://hooks.example.com/x", "--secret-env", "HOOK_SECRET", "--severity", "critical"},
			"POST /api/v1/channels", []string{"ch-1", "set"},
			map[string]any{"name": "ops", "type": "webhook", "secret": "s3cret", "severities": []any{"critical"}}},
		{[]string{"channel", "list"}, "GET /api/v1/channels", []string{"ch-1", "webhook"}, nil},
		{[]string{"channel", "get", "ch-1"}, "GET /api/v1/channels/ch-1", []string{"hooks.example.com"}, nil},
		{[]string{"channel", "test", "ch-1"}, "POST /api/v1/channels/ch-1/test", []string{"delivered", "200"}, nil},
		{[]string{"channel", "delete", "ch-1"}, "DELETE /api/v1/channels/ch-1", []string{"ch-1"}, nil},
	} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		out, _, err := runCLI(t, append(c.args, api)...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		mu.Lock()
		if len(seen) != 1 || seen[0] != c.req {
			t.Errorf("%v: requests %v, want %q", c.args, seen, c.req)
		}
		for k, v := range c.bodyWant {
			got, _ := json.Marshal(body[k])
			want, _ := json.Marshal(v)
			if string(got) != string(want) {
				t.Errorf("%v: body %s = %s, want %s", c.args, k, got, want)
			}
		}
		mu.Unlock()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	// -o json is the API's object.
	out, _, err := runCLI(t, "channel", "get", "ch-1", api, "-o", "json")
	var ch map[string]any
	if err != nil || json.Unmarshal([]byte(out), &ch) != nil || ch["type"] != "webhook" || ch["has_secret"] != true {
		t.Errorf("channel get -o json: %v %s", err, out)
	}
	// A failed test exits non-zero; an empty secret variable is refused.
	if _, _, err := runCLI(t, "channel", "test", "ch-2", api); err == nil || !strings.Contains(err.Error(), "not delivered") {
		t.Errorf("failed test: %v", err)
	}
	if _, _, err := runCLI(t, "channel", "create", "x", "--type", "webhook", "--url", "https://x", "--secret-env", "UNSET_VAR_XYZ", api); err == nil {
		t.Error("empty secret variable accepted")
	}
}
