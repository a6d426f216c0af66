package phoenixcli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// roAPI is a fake rollouts API: it records the bodies and queries it got
// and answers one staged rollout.
type roAPI struct {
	t       *testing.T
	mu      sync.Mutex
	created []apiv1.CreateRolloutRequest
	queries []string
	aborted int
}

func (f *roAPI) rollout(state string) apiv1.Rollout {
	return apiv1.Rollout{ID: "ro-1", Team: "red", State: state, Version: 2, Selector: map[string]string{"zone": "a", "env": "prod"},
		PipelineID: "pl-1", PipelineVersion: 3, ConfigHash: "h", Strategy: "staged", Steps: []int{10, 50, 100}, Pause: "30s",
		Progress: apiv1.RolloutProgress{Agents: []string{"a1", "a2"}, Step: 1, Pausing: true}, CreatedBy: "otto"}
}

func (f *roAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v1/rollouts":
		b, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var body apiv1.CreateRolloutRequest
		if err := dec.Decode(&body); err != nil {
			f.t.Errorf("create body %s: %v", b, err)
		}
		f.created = append(f.created, body)
		f.queries = append(f.queries, r.URL.RawQuery)
		reply(201, f.rollout(apiv1.RolloutRolling))
	case r.Method == "GET" && r.URL.Path == "/api/v1/rollouts":
		f.queries = append(f.queries, r.URL.RawQuery)
		next := "ro-1"
		reply(200, apiv1.List[apiv1.Rollout]{Items: []apiv1.Rollout{f.rollout(apiv1.RolloutRolling)}, NextCursor: &next})
	case r.Method == "GET" && r.URL.Path == "/api/v1/rollouts/ro-1":
		reply(200, f.rollout(apiv1.RolloutRolling))
	case r.Method == "POST" && r.URL.Path == "/api/v1/rollouts/ro-1/abort":
		f.aborted++
		if f.aborted > 1 {
			reply(409, map[string]any{"status": 409, "title": "Conflict", "detail": "rollout ro-1 is aborted: only a rolling rollout can be aborted"})
			return
		}
		reply(200, f.rollout(apiv1.RolloutAborted))
	default:
		reply(404, map[string]any{"status": 404, "title": "Not Found", "detail": "rollout not found"})
	}
}

func startRoAPI(t *testing.T, f *roAPI) string {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	return "--api-url=" + srv.URL
}

// TestRolloutCreateFlags: the flags become the API body (version after @,
// labels split, pause as a duration string); bad flags never reach the API.
func TestRolloutCreateFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want *apiv1.CreateRolloutRequest // nil: refused before the API
		err  string
	}{
		{"latest, all at once", []string{"--pipeline", "pl-1", "--selector", "env=prod"},
			&apiv1.CreateRolloutRequest{PipelineID: "pl-1", Selector: map[string]string{"env": "prod"}}, ""},
		{"pinned, staged", []string{"--pipeline", "pl-1@3", "--selector", "env=prod, zone=a", "--strategy", "staged",
			"--steps", "10,50,100", "--pause", "30s"},
			&apiv1.CreateRolloutRequest{PipelineID: "pl-1", Version: 3, Selector: map[string]string{"env": "prod", "zone": "a"},
				Strategy: "staged", Steps: []int{10, 50, 100}, Pause: "30s"}, ""},
		{"no pipeline", []string{"--selector", "env=prod"}, nil, "--pipeline is required"},
		{"bad version", []string{"--pipeline", "pl-1@latest", "--selector", "env=prod"}, nil, "positive integer"},
		{"no selector", []string{"--pipeline", "pl-1"}, nil, "--selector is required"},
		{"selector without =", []string{"--pipeline", "pl-1", "--selector", "env=prod,zone"}, nil, `"zone" is not k=v`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &roAPI{}
			api := startRoAPI(t, f)
			out, _, err := runCLI(t, append(append([]string{"rollout", "create"}, c.args...), api)...)
			if c.want == nil {
				if err == nil || !strings.Contains(err.Error(), c.err) || len(f.created) != 0 {
					t.Fatalf("want an error naming %q and no request, got %v (%d requests)", c.err, err, len(f.created))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(f.created)
			want, _ := json.Marshal([]apiv1.CreateRolloutRequest{*c.want})
			if string(got) != string(want) {
				t.Errorf("sent %s, want %s", got, want)
			}
			for _, s := range []string{"ro-1", "pl-1@3", "env=prod,zone=a", "2/3 (50%) pausing", "rolling"} {
				if !strings.Contains(out, s) {
					t.Errorf("table lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestRolloutCommands: list, get and abort in each output format; a
// refused abort shows the API's reason.
func TestRolloutCommands(t *testing.T) {
	f := &roAPI{}
	api := startRoAPI(t, f)
	out, _, err := runCLI(t, "rollout", "list", "--limit", "1", api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ro-1", "pl-1@3", "staged", "rolling", "more: --cursor ro-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if len(f.queries) != 1 || f.queries[0] != "limit=1" {
		t.Errorf("list queries %q", f.queries)
	}
	out, _, err = runCLI(t, "rollout", "list", api, "-o", "json")
	var list apiv1.List[apiv1.Rollout]
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Steps[2] != 100 {
		t.Errorf("list -o json: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "rollout", "get", "ro-1", api, "-o", "yaml")
	if err != nil || !strings.Contains(out, "state: rolling") || !strings.Contains(out, "pipeline_version: 3") {
		t.Errorf("get -o yaml: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "rollout", "get", "ro-404", api); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("get unknown: %v", err)
	}
	out, _, err = runCLI(t, "rollout", "abort", "ro-1", api)
	if err != nil || !strings.Contains(out, "aborted") {
		t.Errorf("abort: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "rollout", "abort", "ro-1", api); err == nil || !strings.Contains(err.Error(), "only a rolling rollout") {
		t.Errorf("second abort: %v", err)
	}
}
