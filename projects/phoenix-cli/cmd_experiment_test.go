package phoenixcli

import (
	"encoding/json"
	"errors"
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

func fptr(v float64) *float64 { return &v }

const specYAML = `apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: topk-vs-baseline}
spec:
  target: {selector: {env: dev}}
  baseline: {pipeline: prod-hosts}
  candidates:
    - {name: topk, template: topk, set: {k: "10"}}
  warmup: 30s
  duration: 2m
  criteria: {min_series_reduction_pct: 30, min_critical_retention_pct: 100}
  on_success: wait
`

// expAPI is a fake experiments API: create and start record what they got,
// and each GET moves the experiment one step along script, so a wait sees
// the states a runner would go through.
type expAPI struct {
	t       *testing.T
	mu      sync.Mutex
	script  []string // states GET answers, in order; the last one repeats
	results *apiv1.ExperimentResults
	created []map[string]any
	actions []string
	gets    int
	fail    int // GETs answered 503 before the script starts
}

func (f *expAPI) experiment(state string) apiv1.Experiment {
	e := apiv1.Experiment{ID: "exp-1", Name: "topk-vs-baseline", Team: "red", State: state, Version: 2,
		Spec: json.RawMessage(`{"spec":{"on_success":"wait"}}`), Progress: apiv1.ExperimentProgress{Agents: []string{"a1"}}}
	if apiv1.ExperimentTerminal(state) || state == apiv1.ExperimentSucceeded {
		e.Results = f.results
	}
	return e
}

func (f *expAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	reply := func(status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v1/experiments":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("create sent Content-Type %q", ct)
		}
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			f.t.Errorf("create body is not JSON: %v: %s", err, b)
		}
		f.created = append(f.created, body)
		reply(201, f.experiment(apiv1.ExperimentDraft))
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/api/v1/experiments/exp-1/"):
		action := strings.TrimPrefix(r.URL.Path, "/api/v1/experiments/exp-1/")
		f.actions = append(f.actions, action)
		if action == "approve" {
			reply(409, map[string]any{"status": 409, "title": "Conflict", "detail": "experiment exp-1 is draft: approve does not apply in state draft"})
			return
		}
		reply(200, f.experiment(apiv1.ExperimentPending))
	case r.Method == "GET" && r.URL.Path == "/api/v1/experiments/exp-1":
		f.gets++
		if f.gets <= f.fail {
			reply(503, map[string]any{"status": 503, "title": "Service Unavailable"})
			return
		}
		i := min(f.gets-f.fail-1, len(f.script)-1)
		reply(200, f.experiment(f.script[i]))
	case r.Method == "GET" && r.URL.Path == "/api/v1/experiments":
		if r.URL.Query().Get("state") != "succeeded" || r.URL.Query().Get("limit") != "1" {
			f.t.Errorf("list query %q", r.URL.RawQuery)
		}
		next := "exp-1"
		reply(200, apiv1.List[apiv1.Experiment]{Items: []apiv1.Experiment{f.experiment(apiv1.ExperimentSucceeded)}, NextCursor: &next})
	case r.Method == "GET" && r.URL.Path == "/api/v1/experiments/exp-1/events":
		reply(200, apiv1.List[apiv1.ExperimentTransition]{Items: []apiv1.ExperimentTransition{
			{ExperimentID: "exp-1", Seq: 1, To: "draft", Event: "create", Actor: "otto", Reason: "created through the API"},
			{ExperimentID: "exp-1", Seq: 2, From: "draft", To: "pending", Event: "start", Actor: "otto", Reason: "otto started"},
		}})
	case r.Method == "GET" && r.URL.Path == "/api/v1/experiments/exp-1/results":
		reply(200, f.results)
	default:
		reply(404, map[string]any{"status": 404, "title": "Not Found", "detail": "experiment not found"})
	}
}

func startExpAPI(t *testing.T, f *expAPI) string {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	return "--api-url=" + srv.URL
}

func writeSpec(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(specYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	passed = &apiv1.ExperimentResults{Outcome: "succeeded", Winner: "topk", Reasons: []string{}, Candidates: []apiv1.ExperimentCandidateResult{
		{Name: "topk", Stream: "topk-vs-baseline--topk", Outcome: "passed", Windows: 9, Criteria: []apiv1.ExperimentCriterionResult{
			{Criterion: "min_series_reduction_pct", Measured: fptr(62.5), Comparison: ">=", Threshold: 30, Result: "pass"},
			{Criterion: "min_critical_retention_pct", Measured: fptr(100), Comparison: ">=", Threshold: 100, Result: "pass"},
		}}}}
	failedRes = &apiv1.ExperimentResults{Outcome: "failed", Reasons: []string{"every candidate failed a criterion"}, Candidates: []apiv1.ExperimentCandidateResult{
		{Name: "topk", Outcome: "failed", Failed: []string{"min_critical_retention_pct"}, Windows: 9, Criteria: []apiv1.ExperimentCriterionResult{
			{Criterion: "min_critical_retention_pct", Measured: fptr(50), Comparison: ">=", Threshold: 100, Result: "fail"},
		}}}}
	noData = &apiv1.ExperimentResults{Outcome: "inconclusive", Reasons: []string{"no agent matched the selector"}, Candidates: []apiv1.ExperimentCandidateResult{
		{Name: "topk", Outcome: "inconclusive", Criteria: []apiv1.ExperimentCriterionResult{
			{Criterion: "min_series_reduction_pct", MeasuredUnknownReason: "stream topk-vs-baseline--topk has no data", Comparison: ">=", Threshold: 30, Result: "unknown"},
		}}}}
)

// TestExperimentRunExitCodes: run --wait creates from YAML (sent as JSON),
// starts, follows the states and exits with the verdict's code.
func TestExperimentRunExitCodes(t *testing.T) {
	for _, c := range []struct {
		name     string
		script   []string
		results  *apiv1.ExperimentResults
		fail     int
		timeout  string
		wantCode int // -1: no error
		want     []string
	}{
		{"succeeded waits for approval", []string{"pending", "deploying", "warming", "running", "analyzing", "succeeded"}, passed, 0, "5s", -1,
			[]string{"WINNER", "topk", "min_series_reduction_pct", "62.50%", ">= 30%", "pass"}},
		{"promoted", []string{"running", "promoting", "promoted"}, passed, 0, "5s", -1, []string{"promoted"}},
		{"failed names the criterion", []string{"running", "analyzing", "failed"}, failedRes, 0, "5s", 1,
			[]string{"min_critical_retention_pct", "50.00%", "fail"}},
		{"inconclusive shows why not measured", []string{"pending", "inconclusive"}, noData, 0, "5s", 2,
			[]string{"unknown (stream topk-vs-baseline--topk has no data)", "no agent matched the selector"}},
		{"errored", []string{"deploying", "errored"}, nil, 0, "5s", 3, []string{"errored"}},
		{"rolled back", []string{"promoting", "rolled_back"}, passed, 0, "5s", 3, nil},
		{"survives a few failed polls", []string{"running", "succeeded"}, passed, 3, "5s", -1, []string{"topk"}},
		{"times out", []string{"pending", "running"}, nil, 0, "150ms", 3, nil},
		{"the API keeps failing", []string{"running"}, nil, 100, "5s", 3, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &expAPI{script: c.script, results: c.results, fail: c.fail}
			api := startExpAPI(t, f)
			out, stderr, err := runCLI(t, "experiment", "run", "-f", writeSpec(t), "--wait", "--timeout", c.timeout,
				"--interval", "10ms", api)
			code := -1
			var ee *ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("error without an exit code: %v", err)
			}
			if code != c.wantCode {
				t.Fatalf("exit code %d, want %d (err %v)\nstdout:\n%s\nstderr:\n%s", code, c.wantCode, err, out, stderr)
			}
			text := out
			if err != nil {
				text += err.Error()
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			// Not a terminal: plain progress lines on stderr, one per state
			// seen.
			seen := c.fail < maxPollErrors
			if strings.Contains(stderr, "\r") || seen != strings.Contains(stderr, "exp-1 "+c.script[0]) {
				t.Errorf("progress:\n%q", stderr)
			}
			if len(f.created) != 1 || len(f.actions) != 1 || f.actions[0] != "start" {
				t.Fatalf("created %d, actions %v", len(f.created), f.actions)
			}
			spec := f.created[0]["spec"].(map[string]any)
			if f.created[0]["kind"] != "Experiment" || spec["duration"] != "2m" ||
				spec["criteria"].(map[string]any)["min_series_reduction_pct"] != float64(30) ||
				spec["candidates"].([]any)[0].(map[string]any)["set"].(map[string]any)["k"] != "10" {
				t.Errorf("YAML sent as %v", f.created[0])
			}
		})
	}
}

func TestExperimentCommands(t *testing.T) {
	f := &expAPI{script: []string{"succeeded"}, results: passed}
	api := startExpAPI(t, f)

	out, _, err := runCLI(t, "experiment", "list", "--state", "succeeded", "--limit", "1", api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"exp-1", "topk-vs-baseline", "succeeded", "topk", "more: --cursor exp-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "experiment", "list", "--state", "succeeded", "--limit", "1", api, "-o", "json")
	var list apiv1.List[apiv1.Experiment]
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Results.Winner != "topk" {
		t.Errorf("list -o json: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, "experiment", "create", "-f", writeSpec(t), api, "-o", "yaml")
	if err != nil || !strings.Contains(out, "state: draft") {
		t.Errorf("create -o yaml: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "experiment", "events", "exp-1", api)
	if err != nil || !strings.Contains(out, "otto started") || !strings.Contains(out, "create") {
		t.Errorf("events: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "experiment", "results", "exp-1", api)
	if err != nil || !strings.Contains(out, "62.50%") || !strings.Contains(out, "WINNER") {
		t.Errorf("results: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "experiment", "get", "exp-1", api)
	if err != nil || !strings.Contains(out, "STATE") || !strings.Contains(out, "min_critical_retention_pct") {
		t.Errorf("get: %v\n%s", err, out)
	}
	for _, action := range []string{"start", "stop", "promote", "rollback"} {
		if out, _, err := runCLI(t, "experiment", action, "exp-1", api); err != nil || !strings.Contains(out, "pending") {
			t.Errorf("%s: %v\n%s", action, err, out)
		}
	}
	// A refused action shows the API's reason and is not an exit-code error.
	_, _, err = runCLI(t, "experiment", "approve", "exp-1", api)
	var ee *ExitError
	if err == nil || !strings.Contains(err.Error(), "approve does not apply in state draft") || errors.As(err, &ee) {
		t.Errorf("approve a draft: %v", err)
	}
	if _, _, err := runCLI(t, "experiment", "get", "exp-404", api); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("get unknown: %v", err)
	}
	if _, _, err := runCLI(t, "experiment", "watch", "exp-1", "--interval", "0s", api); err == nil || !strings.Contains(err.Error(), "--interval") {
		t.Errorf("watch --interval 0s: %v", err)
	}
	// watch settles at succeeded (the spec waits for an approval).
	out, _, err = runCLI(t, "experiment", "watch", "exp-1", "--interval", "10ms", api)
	if err != nil || !strings.Contains(out, "exp-1 succeeded") || !strings.Contains(out, "WINNER") {
		t.Errorf("watch: %v\n%s", err, out)
	}
}

func TestSpecJSON(t *testing.T) {
	for _, c := range []struct {
		name, in, want, err string
	}{
		{"yaml", "kind: Experiment\nspec: {duration: 2m, criteria: {min_series_reduction_pct: 30}}\n",
			`{"kind":"Experiment","spec":{"criteria":{"min_series_reduction_pct":30},"duration":"2m"}}`, ""},
		{"json passes through", `{"kind":"Experiment","metadata":{"name":"x"}}`, `{"kind":"Experiment","metadata":{"name":"x"}}`, ""},
		{"not a mapping", "- a\n- b\n", "", "must be a mapping"},
		{"broken yaml", "kind: [Experiment\n", "", "not valid YAML"},
		{"empty", "", "", "must be a mapping"},
	} {
		got, err := specJSON([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%s: %s, %v; want %s", c.name, got, err, c.want)
		}
	}
}

func TestProgressOnATerminalAndElsewhere(t *testing.T) {
	var plain strings.Builder
	p := &progress{&liveLine{w: &plain, start: time.Unix(0, 0)}}
	e := apiv1.Experiment{ID: "exp-1", State: "running"}
	p.show(e, time.Unix(5, 0))
	p.show(e, time.Unix(7, 0)) // same state: no new line
	e.State = "analyzing"
	p.show(e, time.Unix(9, 0))
	p.done()
	if lines := strings.Split(strings.TrimSpace(plain.String()), "\n"); len(lines) != 2 ||
		!strings.Contains(lines[0], "exp-1 running (elapsed 5s)") || !strings.Contains(lines[1], "analyzing (elapsed 9s)") {
		t.Errorf("plain progress:\n%s", plain.String())
	}
	var tty strings.Builder
	p = &progress{&liveLine{w: &tty, tty: true, start: time.Unix(0, 0)}}
	p.show(e, time.Unix(3, 0))
	p.show(e, time.Unix(4, 0))
	p.done()
	if got := tty.String(); strings.Count(got, "\r\033[K") != 2 || !strings.Contains(got, "analyzing  4s") || !strings.HasSuffix(got, "\n") {
		t.Errorf("spinner: %q", got)
	}
}
