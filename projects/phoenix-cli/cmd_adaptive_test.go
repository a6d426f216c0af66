package phoenixcli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// adAPI is a fake adaptive API: it records what it got and answers one
// policy and one decision.
type adAPI struct {
	t       *testing.T
	mu      sync.Mutex
	created []apiv1.AdaptivePolicySpec
	queries []string
	deleted []string
	updated []string // "version query|stream" of each PUT
}

func (f *adAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	pol := apiv1.AdaptivePolicy{ID: "ap-1", Team: "red", Version: 1, Mode: "balanced", CreatedBy: "otto",
		AdaptivePolicySpec: apiv1.AdaptivePolicySpec{Selector: map[string]string{"env": "sweep"}, Stream: "default", Action: "shadow",
			Modes: []apiv1.AdaptiveMode{{Name: "conservative", PipelineID: "pl-1", PipelineVersion: 1, UpTo: 10}, {Name: "balanced", PipelineID: "pl-2"}}}}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v1/adaptive/policies":
		b, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var spec apiv1.AdaptivePolicySpec
		if err := dec.Decode(&spec); err != nil {
			f.t.Errorf("create body %s: %v", b, err)
		}
		f.created = append(f.created, spec)
		reply(201, pol)
	case r.Method == "PUT" && r.URL.Path == "/api/v1/adaptive/policies/ap-1":
		var spec apiv1.AdaptivePolicySpec
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			f.t.Errorf("update body: %v", err)
		}
		f.updated = append(f.updated, r.URL.RawQuery+"|"+spec.Stream)
		reply(200, pol)
	case r.Method == "GET" && r.URL.Path == "/api/v1/adaptive/policies":
		reply(200, apiv1.List[apiv1.AdaptivePolicy]{Items: []apiv1.AdaptivePolicy{pol}})
	case r.Method == "DELETE" && r.URL.Path == "/api/v1/adaptive/policies/ap-1":
		f.deleted = append(f.deleted, "ap-1")
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "GET" && r.URL.Path == "/api/v1/adaptive/decisions":
		f.queries = append(f.queries, r.URL.RawQuery)
		reply(200, apiv1.List[apiv1.AdaptiveDecision]{Items: []apiv1.AdaptiveDecision{{ID: "ad-1", PolicyID: "ap-1",
			Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), ActiveSeries: 20000, From: "conservative", To: "balanced",
			Reason: "active series 20000 above conservative's bound", Applied: true, RolloutID: "ro-9"}}})
	default:
		reply(404, map[string]any{"status": 404, "title": "Not Found", "detail": "not found"})
	}
}

// TestAdaptiveCLI: create sends the file's policy as the API's body (YAML
// read strictly: an unknown key never reaches the API), list and
// decisions render tables and JSON, --policy becomes the query.
func TestAdaptiveCLI(t *testing.T) {
	f := &adAPI{t: t}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	out, _, err := runCLI(t, "adaptive", "policy", "create", "-f", "testdata/adaptive/policy.yaml", api)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.created) != 1 || f.created[0].Stream != "default" || f.created[0].Action != "shadow" || len(f.created[0].Modes) != 3 ||
		f.created[0].Modes[1].UpTo != 50000 || f.created[0].MinDwell != "2m" {
		t.Fatalf("created %+v", f.created)
	}
	if !strings.Contains(out, "ap-1") || !strings.Contains(out, "balanced") {
		t.Errorf("create output:\n%s", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("stream: s\nthreshold: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "adaptive", "policy", "create", "-f", bad, api); err == nil || !strings.Contains(err.Error(), "threshold") {
		t.Errorf("unknown key: %v", err)
	}
	if len(f.created) != 1 {
		t.Errorf("a bad file reached the API")
	}

	if _, _, err := runCLI(t, "adaptive", "policy", "update", "ap-1", "-f", "testdata/adaptive/policy.yaml", "--version", "3", api); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "adaptive", "policy", "update", "ap-1", "-f", bad, api); err == nil {
		t.Error("update with an unknown key: no error")
	}
	if strings.Join(f.updated, ";") != "version=3|default" {
		t.Errorf("updates %q, want one PUT with version=3 and the file's stream", f.updated)
	}

	out, _, err = runCLI(t, "adaptive", "policy", "list", api)
	if err != nil || !strings.Contains(out, "conservative,balanced") || !strings.Contains(out, "shadow") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "adaptive", "decisions", "--policy", "ap-1", api, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var l apiv1.List[apiv1.AdaptiveDecision]
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 1 || l.Items[0].RolloutID != "ro-9" {
		t.Errorf("decisions -o json: %v\n%s", err, out)
	}
	if len(f.queries) != 1 || f.queries[0] != "policy=ap-1" {
		t.Errorf("decisions query %v", f.queries)
	}
	out, _, err = runCLI(t, "adaptive", "decisions", api)
	if err != nil || !strings.Contains(out, "conservative -> balanced") || !strings.Contains(out, "rollout ro-9") {
		t.Errorf("decisions table: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "adaptive", "policy", "delete", "ap-1", api); err != nil || len(f.deleted) != 1 {
		t.Errorf("delete: %v %v", err, f.deleted)
	}
}
