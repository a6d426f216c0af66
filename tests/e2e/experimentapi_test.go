package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/controller"
	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

const expAdminPassword = "experiment-api-admin-password-1"

// apiServer is the real gateway and the controller on in-process NATS and
// SQLite, reached over HTTP as users reach them.
type apiServer struct {
	t    *testing.T
	base string
}

func startAPI(t *testing.T) *apiServer {
	t.Helper()
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", expAdminPassword)
	cfg := newConfig(t, config.ServicePlatformAPI, config.ServiceController)
	cfg.Auth.BootstrapAdminPassword = expAdminPassword
	a, err := app.Start(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), []service.Registration{
		platformapi.Registration(), controller.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	return &apiServer{t: t, base: "http://" + cfg.API.Addr}
}

type apiReply struct {
	Status int
	Body   []byte
}

func (s *apiServer) do(method, path, token string, body any) apiReply {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiReply{Status: resp.StatusCode, Body: b}
}

// must fails the test unless the reply has status want, and decodes it.
func (s *apiServer) must(want int, r apiReply, into any) {
	s.t.Helper()
	if r.Status != want {
		s.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	if into != nil {
		if err := json.Unmarshal(r.Body, into); err != nil {
			s.t.Fatalf("decode %s: %v", r.Body, err)
		}
	}
}

func (s *apiServer) login(user, password string) string {
	s.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	s.must(200, s.do("POST", "/api/v1/auth/login", "", map[string]string{"username": user, "password": password}), &out)
	return out.AccessToken
}

// user creates a user with role in team (creating the team) and logs in.
func (s *apiServer) user(admin, name, role, team string) string {
	s.t.Helper()
	if r := s.do("POST", "/api/v1/teams", admin, map[string]string{"name": team}); r.Status != 201 && r.Status != 409 {
		s.t.Fatalf("create team %s: %d %s", team, r.Status, r.Body)
	}
	pw := "password-for-" + name + "-1"
	s.must(201, s.do("POST", "/api/v1/users", admin, map[string]any{"username": name, "password": pw, "role": role,
		"teams": []string{team}}), nil)
	return s.login(name, pw)
}

// apiKey creates an operator API key of team red with scopes.
func (s *apiServer) apiKey(admin string, scopes []string) string {
	s.t.Helper()
	var k apiv1.APIKey
	s.must(201, s.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "ci-" + strings.Join(scopes, "-"),
		"role": "operator", "scopes": scopes, "teams": []string{"red"}}), &k)
	return k.Key
}

// idleSpec is a valid spec named name whose selector matches no agent.
func idleSpec(name string) map[string]any {
	return map[string]any{
		"apiVersion": "phoenix.dev/v1alpha1", "kind": "Experiment", "metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"target":     map[string]any{"selector": map[string]string{"env": "nowhere"}},
			"baseline":   map[string]any{"template": "baseline"},
			"candidates": []any{map[string]any{"name": "conservative", "template": "conservative"}},
			"duration":   "2m",
			"criteria":   map[string]any{"min_series_reduction_pct": 10},
		},
	}
}

// TestExperimentAPI drives /api/v1/experiments through the real gateway:
// RBAC from the spec, team isolation, the parser's field errors, the
// lifecycle's 409s and pagination. Only drafts and the first transitions
// are asserted exactly: once started, the runner (when the controller runs
// one) may move an experiment on.
func TestExperimentAPI(t *testing.T) {
	s := startAPI(t)
	admin := s.login("admin", expAdminPassword)
	viewer := s.user(admin, "vera", "viewer", "red")
	operator := s.user(admin, "otto", "operator", "red")
	outsider := s.user(admin, "olga", "operator", "blue")

	// RBAC: the gateway enforces x-phoenix-role and authentication.
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no credentials", "GET", "/api/v1/experiments", "", nil, 401},
		{"viewer creates", "POST", "/api/v1/experiments", viewer, idleSpec("by-viewer"), 403},
		{"viewer starts", "POST", "/api/v1/experiments/exp-0000000000000001/start", viewer, nil, 403},
		{"viewer deletes", "DELETE", "/api/v1/experiments/exp-0000000000000001", viewer, nil, 403},
		{"unknown state filter", "GET", "/api/v1/experiments?state=sleeping", viewer, nil, 400},
		{"unknown top-level field", "POST", "/api/v1/experiments", operator, map[string]any{"kind": "Experiment", "owner": "x"}, 400},
	} {
		if r := s.do(c.method, c.path, c.token, c.body); r.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.want, r.Body)
		}
	}

	// API keys: an operator key scoped read lists but cannot create; with
	// write it creates for its team.
	readKey := s.apiKey(admin, []string{"read"})
	writeKey := s.apiKey(admin, []string{"read", "write"})
	s.must(200, s.do("GET", "/api/v1/experiments", readKey, nil), nil)
	s.must(403, s.do("POST", "/api/v1/experiments", readKey, idleSpec("by-read-key")), nil)
	var byKey apiv1.Experiment
	s.must(201, s.do("POST", "/api/v1/experiments", writeKey, idleSpec("by-write-key")), &byKey)
	if byKey.Team != "red" {
		t.Errorf("the key's experiment belongs to %q, want red", byKey.Team)
	}
	s.must(204, s.do("DELETE", "/api/v1/experiments/"+byKey.ID, writeKey, nil), nil)

	// Validation: one 400 lists every problem of the spec with its path.
	bad := idleSpec("Bad--Name")
	sp := bad["spec"].(map[string]any)
	sp["duration"] = "1s"
	sp["on_success"] = "celebrate"
	sp["criteria"] = map[string]any{"min_series_reduction_pct": 140}
	sp["colour"] = "red"
	var p problem.Error
	s.must(400, s.do("POST", "/api/v1/experiments", operator, bad), &p)
	var paths []string
	for _, fe := range p.Errors {
		paths = append(paths, fe.Path)
	}
	for _, want := range []string{"metadata.name", "spec.duration", "spec.on_success", "spec.criteria.min_series_reduction_pct", "spec.colour"} {
		if !slices.Contains(paths, want) {
			t.Errorf("validation errors %v lack %s", paths, want)
		}
	}

	// Create: a draft of the caller's team, with its creation logged.
	var draft apiv1.Experiment
	s.must(201, s.do("POST", "/api/v1/experiments", operator, idleSpec("topk-vs-baseline")), &draft)
	if draft.State != apiv1.ExperimentDraft || draft.Team != "red" || draft.Name != "topk-vs-baseline" || draft.Version != 1 ||
		draft.CreatedBy != "otto" || draft.Results != nil {
		t.Fatalf("created: %+v", draft)
	}
	var stored map[string]any
	if err := json.Unmarshal(draft.Spec, &stored); err != nil || stored["spec"].(map[string]any)["on_success"] != "wait" {
		t.Errorf("stored spec without its defaults: %s", draft.Spec)
	}
	id := "/api/v1/experiments/" + draft.ID
	// A live experiment keeps its name (and streams) to itself.
	s.must(409, s.do("POST", "/api/v1/experiments", operator, idleSpec("topk-vs-baseline")), nil)

	// Other teams see nothing: 404 for every operation on the id, and the
	// list leaves it out.
	for _, c := range []struct{ method, path string }{
		{"GET", id}, {"DELETE", id}, {"POST", id + "/start"}, {"POST", id + "/stop"}, {"POST", id + "/approve"},
		{"POST", id + "/promote"}, {"POST", id + "/rollback"}, {"GET", id + "/events"}, {"GET", id + "/results"},
	} {
		if r := s.do(c.method, c.path, outsider, nil); r.Status != 404 || strings.Contains(string(r.Body), "topk") {
			t.Errorf("%s %s as another team: %d, want 404: %s", c.method, c.path, r.Status, r.Body)
		}
	}
	var blue apiv1.List[apiv1.Experiment]
	s.must(200, s.do("GET", "/api/v1/experiments", outsider, nil), &blue)
	if len(blue.Items) != 0 {
		t.Errorf("another team lists %+v", blue.Items)
	}
	// The viewer of the team reads it.
	var got apiv1.Experiment
	s.must(200, s.do("GET", id, viewer, nil), &got)
	if got.ID != draft.ID || got.State != apiv1.ExperimentDraft {
		t.Errorf("viewer reads %+v", got)
	}

	// Actions a draft does not take are 409 naming the state and the
	// action, and write nothing.
	for _, action := range []string{"approve", "promote", "rollback"} {
		r := s.do("POST", id+"/"+action, operator, nil)
		if r.Status != 409 || !strings.Contains(string(r.Body), "is draft") || !strings.Contains(string(r.Body), action) {
			t.Errorf("%s on a draft: %d, want 409 naming draft and %s: %s", action, r.Status, action, r.Body)
		}
	}
	s.must(409, s.do("GET", id+"/results", viewer, nil), nil)
	s.must(200, s.do("GET", id, viewer, nil), &got)
	if got.Version != 1 {
		t.Errorf("refused actions wrote: version %d", got.Version)
	}

	// Start: draft -> pending (the runner may have moved it on since).
	var started apiv1.Experiment
	s.must(200, s.do("POST", id+"/start", operator, nil), &started)
	if started.State == apiv1.ExperimentDraft || started.Version < 2 {
		t.Fatalf("started: %+v", started)
	}
	if r := s.do("DELETE", id, operator, nil); r.Status != 409 || !strings.Contains(string(r.Body), "only a draft") {
		t.Errorf("delete a started experiment: %d, want 409: %s", r.Status, r.Body)
	}
	if r := s.do("POST", id+"/start", operator, nil); r.Status != 409 || !strings.Contains(string(r.Body), "start does not apply") {
		t.Errorf("start twice: %d, want 409: %s", r.Status, r.Body)
	}
	// Stop cancels it unless the runner already ended it; either way a
	// second stop finds it final.
	if r := s.do("POST", id+"/stop", operator, nil); r.Status != 200 && r.Status != 409 {
		t.Errorf("stop: %d: %s", r.Status, r.Body)
	}
	s.must(200, s.do("GET", id, viewer, nil), &got)
	if !apiv1.ExperimentTerminal(got.State) {
		t.Errorf("after stop the experiment is %s", got.State)
	}
	if r := s.do("POST", id+"/stop", operator, nil); r.Status != 409 || !strings.Contains(string(r.Body), "is "+got.State) {
		t.Errorf("stop a final experiment: %d, want 409 naming %s: %s", r.Status, got.State, r.Body)
	}

	// Events: the log pages one entry at a time, oldest first, starting
	// with the creation and the start by otto.
	var log []apiv1.ExperimentTransition
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatalf("more pages than transitions: %+v", log)
		}
		q := url.Values{"limit": {"1"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page apiv1.List[apiv1.ExperimentTransition]
		s.must(200, s.do("GET", id+"/events?"+q.Encode(), viewer, nil), &page)
		if len(page.Items) > 1 {
			t.Fatalf("page of %d over limit 1", len(page.Items))
		}
		log = append(log, page.Items...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(log) < 3 || log[0].Event != "create" || log[0].To != apiv1.ExperimentDraft ||
		log[1].Event != "start" || log[1].From != apiv1.ExperimentDraft || log[1].Actor != "otto" ||
		log[len(log)-1].To != got.State {
		t.Errorf("log: %+v", log)
	}
	for i, tr := range log {
		if tr.Seq != int64(i+1) {
			t.Errorf("entry %d has seq %d", i, tr.Seq)
		}
	}
	if r := s.do("GET", id+"/events?cursor=nope", viewer, nil); r.Status != 400 || !strings.Contains(string(r.Body), `"cursor"`) {
		t.Errorf("bad cursor: %d %s", r.Status, r.Body)
	}

	// A draft is deleted with its log.
	var gone apiv1.Experiment
	s.must(201, s.do("POST", "/api/v1/experiments", operator, idleSpec("short-lived")), &gone)
	s.must(204, s.do("DELETE", "/api/v1/experiments/"+gone.ID, operator, nil), nil)
	s.must(404, s.do("GET", "/api/v1/experiments/"+gone.ID, operator, nil), nil)

	// Pagination and the state filter: five drafts of red, one of blue
	// (created by the admin for team blue).
	var drafts []string
	for i := range 5 {
		var e apiv1.Experiment
		s.must(201, s.do("POST", "/api/v1/experiments", operator, idleSpec(fmt.Sprintf("draft-%d", i))), &e)
		drafts = append(drafts, e.ID)
	}
	var blueOne apiv1.Experiment
	s.must(201, s.do("POST", "/api/v1/experiments?team=blue", admin, idleSpec("blue-draft")), &blueOne)
	if blueOne.Team != "blue" {
		t.Errorf("admin's ?team=blue created for %s", blueOne.Team)
	}
	s.must(403, s.do("POST", "/api/v1/experiments?team=blue", operator, idleSpec("not-mine")), nil)
	var listed []string
	cursor = ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("more pages than drafts: %v", listed)
		}
		q := url.Values{"limit": {"2"}, "state": {"draft"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page apiv1.List[apiv1.Experiment]
		s.must(200, s.do("GET", "/api/v1/experiments?"+q.Encode(), viewer, nil), &page)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d over limit 2", len(page.Items))
		}
		for _, e := range page.Items {
			if e.State != apiv1.ExperimentDraft || e.Team != "red" {
				t.Errorf("?state=draft as red listed %s (%s, %s)", e.ID, e.State, e.Team)
			}
			listed = append(listed, e.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	slices.Sort(drafts)
	if fmt.Sprint(listed) != fmt.Sprint(drafts) {
		t.Errorf("drafts listed %v, want %v", listed, drafts)
	}
	var all apiv1.List[apiv1.Experiment]
	s.must(200, s.do("GET", "/api/v1/experiments", admin, nil), &all)
	if len(all.Items) != 7 {
		t.Errorf("admin lists %d experiments, want 7 (6 of red, 1 of blue)", len(all.Items))
	}

	// The CLI decodes what the server answers: create from YAML, then get
	// and events through the same wire types.
	t.Setenv("PHOENIX_TOKEN", operator)
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte(`apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: from-yaml}
spec:
  target: {selector: {env: nowhere}}
  baseline: {template: baseline}
  candidates: [{name: conservative, template: conservative}]
  duration: 2m
  criteria: {min_series_reduction_pct: 10}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(t, "experiment", "create", "-f", spec, "--api-url", s.base, "-o", "json")
	var viaCLI apiv1.Experiment
	if err := json.Unmarshal([]byte(out), &viaCLI); err != nil || viaCLI.Name != "from-yaml" || viaCLI.State != apiv1.ExperimentDraft {
		t.Fatalf("create through the CLI: %v\n%s", err, out)
	}
	if out := cli(t, "experiment", "events", viaCLI.ID, "--api-url", s.base); !strings.Contains(out, "create") || !strings.Contains(out, "otto") {
		t.Errorf("events through the CLI:\n%s", out)
	}
	if out := cli(t, "experiment", "list", "--state", "draft", "--api-url", s.base); !strings.Contains(out, "from-yaml") {
		t.Errorf("list through the CLI:\n%s", out)
	}
	// The examples docs/experiments.md points to are accepted as written.
	for _, name := range []string{"topk.yaml", "drops-postgres.yaml"} {
		out := cli(t, "experiment", "create", "-f", filepath.Join(repoRoot(), "examples", "experiments", name), "--api-url", s.base, "-o", "json")
		var e apiv1.Experiment
		if err := json.Unmarshal([]byte(out), &e); err != nil || e.State != apiv1.ExperimentDraft {
			t.Errorf("create examples/experiments/%s: %v\n%s", name, err, out)
		}
	}
}

// cli runs a phoenix command in process and returns its stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	root := phoenixcli.NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("phoenix %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}
