package rolloutapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

var (
	operator = apiv1.Principal{Subject: "otto", Kind: "user", Role: "operator", Teams: []string{"red"}}
	viewer   = apiv1.Principal{Subject: "vera", Kind: "user", Role: "viewer", Teams: []string{"red"}}
	outsider = apiv1.Principal{Subject: "olga", Kind: "user", Role: "operator", Teams: []string{"blue"}}
	admin    = apiv1.Principal{Subject: "ada", Kind: "user", Role: "admin"}
)

// generator answers SubjectPipelineVersion from its pipelines as the
// generator does: the latest for version 0, 404 for an unknown one.
type generator map[string]apiv1.PipelineVersion

func (g generator) Request(_ context.Context, subject string, req, resp any) error {
	if subject != apiv1.SubjectPipelineVersion {
		return errors.New("unexpected subject " + subject)
	}
	r := req.(apiv1.PipelineVersionRequest)
	pv, ok := g[r.PipelineID]
	if !ok || r.Version != 0 && r.Version != pv.Version {
		return problem.NotFound("pipeline %s version %d not found", r.PipelineID, r.Version)
	}
	*resp.(*apiv1.PipelineVersion) = pv
	return nil
}

func newAPI(t *testing.T) *API {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := rollout.NewStore(db)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &API{Store: s, Bus: generator{
		"pl-red":  {PipelineID: "pl-red", Name: "edge", Version: 3, Team: "red", Config: "receivers: {}\n"},
		"pl-blue": {PipelineID: "pl-blue", Name: "core", Version: 1, Team: "blue", Config: "receivers: {}\n"},
	}}
}

func call(t *testing.T, h apiv1.Handler, p apiv1.Principal, id string, query url.Values, body string) (any, error) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return h(context.Background(), &apiv1.Request{Principal: p, Params: map[string]string{"id": id}, Query: query, Body: b})
}

func status(err error) int {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Status
	}
	if err != nil {
		return 500
	}
	return 200
}

// create stores a rollout of pl-red for otto and returns it.
func create(t *testing.T, a *API, body string) apiv1.Rollout {
	t.Helper()
	out, err := call(t, a.create, operator, "", nil, body)
	if err != nil {
		t.Fatal(err)
	}
	reply := out.(messaging.StatusReply)
	if reply.Status != http.StatusCreated {
		t.Fatalf("status %d, want 201", reply.Status)
	}
	return reply.Body.(apiv1.Rollout)
}

// TestCreate: a valid body becomes a rolling rollout of the pipeline's
// version; every invalid one is refused with the status and the field
// that says why, and nothing is stored.
func TestCreate(t *testing.T) {
	for _, c := range []struct {
		name   string
		who    apiv1.Principal
		body   string
		status int
		field  string // a FieldError path the 400 must name
	}{
		{"all at once, latest version", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"}}`, 201, ""},
		{"staged, pinned version", operator,
			`{"pipeline_id":"pl-red","version":3,"selector":{"env":"prod","zone":"a"},"strategy":"staged","steps":[10,50,100],"pause":"30s"}`, 201, ""},
		{"viewer may not", viewer, `{"pipeline_id":"pl-red","selector":{"env":"prod"}}`, 403, ""},
		{"no body", operator, ``, 400, ""},
		{"unknown field", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"agents":["a"]}`, 400, ""},
		{"no selector", operator, `{"pipeline_id":"pl-red"}`, 400, "selector"},
		{"no pipeline", operator, `{"selector":{"env":"prod"}}`, 400, "pipeline_id"},
		{"bad pause", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"strategy":"staged","steps":[50,100],"pause":"soon"}`, 400, "pause"},
		{"steps not rising", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"strategy":"staged","steps":[50,10]}`, 400, "spec.rollout.steps[1]"},
		{"steps with all", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"steps":[50]}`, 400, "spec.rollout.steps"},
		{"unknown strategy", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"strategy":"canary"}`, 400, ""},
		{"empty critical matcher", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"critical":[" "]}`, 400, "critical[0]"},
		{"bad stream", operator, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"critical":["a=\"b\""],"stream":"a.b"}`, 400, "stream"},
		{"another team's pipeline", operator, `{"pipeline_id":"pl-blue","selector":{"env":"prod"}}`, 404, ""},
		{"unknown version", operator, `{"pipeline_id":"pl-red","version":2,"selector":{"env":"prod"}}`, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAPI(t)
			out, err := call(t, a.create, c.who, "", nil, c.body)
			if got := status(err); c.status != 201 && got != c.status {
				t.Fatalf("status %d (%v), want %d", got, err, c.status)
			}
			if c.field != "" {
				var pe *problem.Error
				errors.As(err, &pe)
				found := false
				for _, fe := range pe.Errors {
					found = found || fe.Path == c.field
				}
				if !found {
					t.Errorf("400 names %+v, want %s", pe.Errors, c.field)
				}
			}
			stored, ferr := a.Store.Find(context.Background(), nil, "", 10)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if c.status != 201 {
				if len(stored) != 0 {
					t.Errorf("a refused create stored %d rollouts", len(stored))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ro := out.(messaging.StatusReply).Body.(apiv1.Rollout)
			var body apiv1.CreateRolloutRequest
			_ = json.Unmarshal([]byte(c.body), &body)
			wantStrategy := body.Strategy
			if wantStrategy == "" {
				wantStrategy = "all"
			}
			if ro.State != apiv1.RolloutRolling || ro.Team != "red" || ro.PipelineID != "pl-red" || ro.PipelineVersion != 3 ||
				ro.Strategy != wantStrategy || ro.Pause != body.Pause ||
				ro.CreatedBy != "otto" || ro.ConfigHash == "" || len(ro.Selector) != len(body.Selector) {
				t.Errorf("answered %+v", ro)
			}
			if len(stored) != 1 || stored[0].ID != ro.ID {
				t.Errorf("stored %d rollouts, want the one answered", len(stored))
			}
		})
	}
}

// TestTeamsAreIsolated: another team's rollout is 404 for get and abort
// (its existence does not leak), left out of lists, and visible to admins.
func TestTeamsAreIsolated(t *testing.T) {
	a := newAPI(t)
	ro := create(t, a, `{"pipeline_id":"pl-red","selector":{"env":"prod"}}`)
	ops := a.Operations()
	for _, op := range []string{"getRollout", "abortRollout"} {
		if _, err := call(t, ops[op], outsider, ro.ID, nil, ""); status(err) != http.StatusNotFound {
			t.Errorf("%s by another team: %v, want 404", op, err)
		}
	}
	if _, err := call(t, ops["getRollout"], operator, "ro-missing", nil, ""); status(err) != http.StatusNotFound {
		t.Errorf("get of a missing rollout: %v, want 404", err)
	}
	for _, c := range []struct {
		who  apiv1.Principal
		want int
	}{{outsider, 0}, {viewer, 1}, {admin, 1}, {apiv1.Principal{Subject: "nobody", Role: "viewer"}, 0}} {
		out, err := call(t, ops["listRollouts"], c.who, "", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(out.(apiv1.List[apiv1.Rollout]).Items); got != c.want {
			t.Errorf("%s lists %d rollouts, want %d", c.who.Subject, got, c.want)
		}
	}
	if out, err := call(t, ops["getRollout"], viewer, ro.ID, nil, ""); err != nil || out.(apiv1.Rollout).ID != ro.ID {
		t.Errorf("the team's viewer gets %v, %v", out, err)
	}
}

// TestAbort: a rolling rollout is aborted by an operator (the reason names
// them); a second abort is 409 naming the state; a viewer may not.
func TestAbort(t *testing.T) {
	a := newAPI(t)
	ro := create(t, a, `{"pipeline_id":"pl-red","selector":{"env":"prod"},"strategy":"staged","steps":[50,100]}`)
	abort := a.Operations()["abortRollout"]
	if _, err := call(t, abort, viewer, ro.ID, nil, ""); status(err) != http.StatusForbidden {
		t.Fatalf("viewer abort: %v, want 403", err)
	}
	out, err := call(t, abort, operator, ro.ID, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(apiv1.Rollout); got.State != apiv1.RolloutAborted || got.Version != ro.Version+1 || !strings.Contains(got.Reason, "otto") {
		t.Errorf("aborted: %+v", got)
	}
	_, err = call(t, abort, operator, ro.ID, nil, "")
	if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "is aborted") {
		t.Errorf("second abort: %v, want 409 naming aborted", err)
	}
}

// TestListPaginates: limit and cursor page through the team's rollouts
// by id, each once.
func TestListPaginates(t *testing.T) {
	a := newAPI(t)
	want := map[string]bool{}
	for range 5 {
		want[create(t, a, `{"pipeline_id":"pl-red","selector":{"env":"prod"}}`).ID] = true
	}
	list := a.Operations()["listRollouts"]
	seen, cursor, pages := map[string]bool{}, "", 0
	for {
		q := url.Values{"limit": {"2"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		out, err := call(t, list, viewer, "", q, "")
		if err != nil {
			t.Fatal(err)
		}
		page := out.(apiv1.List[apiv1.Rollout])
		pages++
		for _, r := range page.Items {
			if seen[r.ID] || !want[r.ID] {
				t.Errorf("page %d: %s seen twice or unknown", pages, r.ID)
			}
			seen[r.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("saw %d rollouts in %d pages, want 5 in 3", len(seen), pages)
	}
}
