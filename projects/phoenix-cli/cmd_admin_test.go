package phoenixcli

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAdminVerbs: each new verb calls its operation and shows the answer.
func TestAdminVerbs(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	answers := map[string]string{
		"GET /api/v1/auth/me":                 `{"subject":"alice","kind":"user","role":"admin","teams":["red"]}`,
		"POST /api/v1/auth/keys/rotate":       `{"kid":"k-2","previous_keys_retire_in_seconds":900}`,
		"GET /api/v1/users/bob":               `{"username":"bob","role":"operator","teams":["red","blue"]}`,
		"GET /api/v1/teams/red":               `{"name":"red","members":["alice","bob"],"created_at":"2026-01-02T03:04:05Z"}`,
		"DELETE /api/v1/teams/red":            ``,
		"GET /api/v1/apikeys/k1":              `{"id":"k1","name":"ci","role":"operator","scopes":["read","write"],"teams":["red"],"created_by":"alice"}`,
		"GET /api/v1/audit":                   `{"items":[{"id":7,"at":"2026-01-02T03:04:05Z","actor":"alice","actor_kind":"user","action":"POST /api/v1/users","method":"POST","path":"/api/v1/users","remote":"10.0.0.1","status":201,"request_id":"r1"}],"next_cursor":"7"}`,
		"GET /api/v1/streams":                 `{"items":[{"stream":"default","team":"red","active_series":42,"exact":true,"last_seen":"2026-01-02T03:04:05Z"}],"next_cursor":null}`,
		"GET /api/v1/streams/default/rollups": `{"items":[{"stream":"default","start":"2026-01-02T03:00:00Z","end":"2026-01-02T03:05:00Z","active_series":40,"exact":true,"datapoints":1200,"bytes":52000,"new_series":3,"metric_series":{}}],"next_cursor":null}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		mu.Lock()
		got = append(got, key+"?"+r.URL.RawQuery)
		mu.Unlock()
		body, ok := answers[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if body == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer api.Close()
	t.Setenv("PHOENIX_TOKEN", "tok")
	for _, c := range []struct {
		args  []string
		call  string
		wants []string
	}{
		{[]string{"auth", "me"}, "GET /api/v1/auth/me?", []string{"alice", "admin", "red"}},
		{[]string{"auth", "keys", "rotate"}, "POST /api/v1/auth/keys/rotate?", []string{"k-2", "15m0s"}},
		{[]string{"user", "get", "bob"}, "GET /api/v1/users/bob?", []string{"bob", "operator", "red,blue"}},
		{[]string{"team", "get", "red"}, "GET /api/v1/teams/red?", []string{"alice,bob"}},
		{[]string{"team", "delete", "red"}, "DELETE /api/v1/teams/red?", []string{"Deleted red"}},
		{[]string{"apikey", "get", "k1"}, "GET /api/v1/apikeys/k1?", []string{"ci", "read,write", "alice"}},
		{[]string{"audit", "--actor", "alice", "--limit", "1"}, "GET /api/v1/audit?actor=alice&limit=1", []string{"POST /api/v1/users", "201", "more: --cursor 7"}},
		{[]string{"stream", "list"}, "GET /api/v1/streams?limit=500", []string{"default", "42"}},
		{[]string{"stream", "rollups", "default", "--from", "2026-01-02T03:00:00Z", "--step", "5m"},
			"GET /api/v1/streams/default/rollups?from=2026-01-02T03%3A00%3A00Z&step=5m", []string{"1200", "52000"}},
	} {
		got = nil
		out, _, err := runCLI(t, append(c.args, "--api-url", api.URL)...)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if len(got) != 1 || got[0] != c.call {
			t.Errorf("%v called %v, want %s", c.args, got, c.call)
		}
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%v output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
}

func TestTimeArg(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"2026-01-02T03:00:00Z": "2026-01-02T03:00:00Z",
		"1767322800":           "1767322800",
		"2h":                   "2026-01-02T10:00:00Z",
		"yesterday":            "",
		"-2h":                  "",
		"900000h":              "",
	} {
		got, err := timeArg(in, now)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("timeArg(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestRecommendFailOn: --fail-on exits 1 naming each recommendation whose
// estimated monthly saving is above the threshold, after printing the
// document; an unknown saving never crosses it.
func TestRecommendFailOn(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "recommend", "savings.json"))
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	defer api.Close()
	for _, c := range []struct {
		threshold string
		wantCode  int // 0: no error
		names     []string
	}{
		{"200", 0, nil},
		{"100", ExitFailed, []string{"drop_label process.cpu.time (114.00)"}},
		{"50", ExitFailed, []string{"drop_label process.cpu.time (114.00)", "topk process.memory.usage (70.00)", "184.00 together"}},
		{"0", ExitFailed, []string{"2 recommendation(s)"}}, // the unknown saving is not counted
	} {
		out, _, err := runCLI(t, "recommend", "--api-url", api.URL, "-o", "json", "--fail-on", c.threshold)
		if !strings.Contains(out, `"monthly_saving_estimate": 114`) {
			t.Errorf("--fail-on %s: the JSON document is not printed:\n%s", c.threshold, out)
		}
		var ee *ExitError
		switch {
		case c.wantCode == 0 && err != nil:
			t.Errorf("--fail-on %s: %v", c.threshold, err)
		case c.wantCode != 0 && (!errors.As(err, &ee) || ee.Code != c.wantCode):
			t.Errorf("--fail-on %s: %v, want exit %d", c.threshold, err, c.wantCode)
		}
		for _, n := range c.names {
			if err == nil || !strings.Contains(err.Error(), n) {
				t.Errorf("--fail-on %s: %v lacks %q", c.threshold, err, n)
			}
		}
	}
	// Without --fail-on the same answer is success.
	if _, _, err := runCLI(t, "recommend", "--api-url", api.URL); err != nil {
		t.Errorf("no --fail-on: %v", err)
	}
}

// FuzzTimeArg: any --from/--to value is refused or becomes something the
// API reads (RFC 3339 or Unix seconds), never a panic.
func FuzzTimeArg(f *testing.F) {
	for _, s := range []string{"2026-01-02T03:00:00Z", "1767322800", "2h", "90m", "-2h", "", "1e9", "2026-13-40T99:00:00Z"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := timeArg(in, now)
		if err != nil {
			return
		}
		if _, perr := time.Parse(time.RFC3339, got); perr != nil {
			if _, ierr := strconv.ParseInt(got, 10, 64); ierr != nil {
				t.Fatalf("timeArg(%q) = %q: neither RFC 3339 nor Unix seconds", in, got)
			}
		}
	})
}
