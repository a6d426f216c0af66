package experimentapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

var (
	operator = apiv1.Principal{Subject: "otto", Kind: "user", Role: "operator", Teams: []string{"red"}}
	viewer   = apiv1.Principal{Subject: "vera", Kind: "user", Role: "viewer", Teams: []string{"red"}}
	outsider = apiv1.Principal{Subject: "olga", Kind: "user", Role: "operator", Teams: []string{"blue"}}
)

func newAPI(t *testing.T) *API {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := experiment.NewStore(db)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &API{Store: s}
}

func spec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../experiment/testdata/minimal.good.json")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.Replace(string(b), `"json-body"`, `"`+name+`"`, 1))
}

func call(t *testing.T, h apiv1.Handler, p apiv1.Principal, id string, body []byte) (any, error) {
	t.Helper()
	return h(context.Background(), &apiv1.Request{Principal: p, Params: map[string]string{"id": id}, Body: body})
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

// drive moves a stored experiment along runner events, as the runner does.
func drive(t *testing.T, a *API, id string, evs ...experiment.Event) {
	t.Helper()
	for _, ev := range evs {
		r, err := a.Store.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Store.Apply(context.Background(), id, r.Version, ev, "runner", "test", nil); err != nil {
			t.Fatalf("%s: %v", ev, err)
		}
	}
}

var toSucceeded = []experiment.Event{experiment.EvStart, experiment.EvDeploy, experiment.EvDeployed,
	experiment.EvWarmedUp, experiment.EvElapsed, experiment.EvPass}

// TestActions: each action is its lifecycle event, from every state where
// it applies and refused (409 naming state and action, nothing written)
// where it does not, including states only the runner reaches.
func TestActions(t *testing.T) {
	for _, c := range []struct {
		name   string
		before []experiment.Event // from draft
		op     string
		want   experiment.State // "" : refused with 409
	}{
		{"start a draft", nil, "startExperiment", experiment.Pending},
		{"stop a draft", nil, "stopExperiment", experiment.Cancelled},
		{"stop while running", toSucceeded[:4], "stopExperiment", experiment.Cancelled},
		{"approve a succeeded", toSucceeded, "approveExperiment", experiment.Promoting},
		{"promote a succeeded", toSucceeded, "promoteExperiment", experiment.Promoting},
		{"rollback a promotion", append(toSucceeded[:6:6], experiment.EvPromote), "rollbackExperiment", experiment.RolledBack},
		{"start twice", toSucceeded[:1], "startExperiment", ""},
		{"approve a draft", nil, "approveExperiment", ""},
		{"approve while running", toSucceeded[:4], "approveExperiment", ""},
		{"promote a failed", append(toSucceeded[:5:5], experiment.EvFail), "promoteExperiment", ""},
		{"rollback a succeeded", toSucceeded, "rollbackExperiment", ""},
		{"stop a cancelled", []experiment.Event{experiment.EvCancel}, "stopExperiment", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newAPI(t)
			created, err := a.create(context.Background(), &apiv1.Request{Principal: operator, Body: spec(t, "actions")})
			if err != nil {
				t.Fatal(err)
			}
			id := created.(messaging.StatusReply).Body.(apiv1.Experiment).ID
			drive(t, a, id, c.before...)
			before, _ := a.Store.Get(context.Background(), id)
			out, err := call(t, a.Operations()[c.op], operator, id, nil)
			if c.want == "" {
				action := strings.TrimSuffix(c.op, "Experiment")
				if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "is "+string(before.State)) ||
					!strings.Contains(err.Error(), action+" does not apply") {
					t.Fatalf("want 409 naming %s and %s, got %v", before.State, action, err)
				}
				after, _ := a.Store.Get(context.Background(), id)
				if after.Version != before.Version || after.State != before.State {
					t.Errorf("a refused action wrote: %s v%d -> %s v%d", before.State, before.Version, after.State, after.Version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e := out.(apiv1.Experiment); e.State != string(c.want) || e.Version != before.Version+1 {
				t.Errorf("answered %s v%d, want %s v%d", e.State, e.Version, c.want, before.Version+1)
			}
			ts, _ := a.Store.Transitions(context.Background(), id, 0, 100)
			if last := ts[len(ts)-1]; last.Actor != "otto" || last.To != c.want || !strings.HasPrefix(last.Reason, "otto ") {
				t.Errorf("logged %+v", last)
			}
		})
	}
}

func TestRolesTeamsAndResults(t *testing.T) {
	a := newAPI(t)
	ops := a.Operations()
	ctx := context.Background()

	if _, err := a.create(ctx, &apiv1.Request{Principal: viewer, Body: spec(t, "by-viewer")}); status(err) != 403 {
		t.Errorf("viewer creates: %v", err)
	}
	if _, err := a.create(ctx, &apiv1.Request{Principal: operator, Query: map[string][]string{"team": {"blue"}}, Body: spec(t, "x")}); status(err) != 403 {
		t.Errorf("create for a team not mine: %v", err)
	}
	if _, err := a.create(ctx, &apiv1.Request{Principal: operator}); status(err) != 400 {
		t.Errorf("no body: %v", err)
	}
	out, err := a.create(ctx, &apiv1.Request{Principal: operator, Body: spec(t, "results")})
	if err != nil {
		t.Fatal(err)
	}
	id := out.(messaging.StatusReply).Body.(apiv1.Experiment).ID
	for _, op := range []string{"startExperiment", "stopExperiment", "deleteExperiment"} {
		if _, err := call(t, ops[op], viewer, id, nil); status(err) != 403 {
			t.Errorf("viewer %s: %v", op, err)
		}
	}
	for _, op := range []string{"getExperiment", "deleteExperiment", "startExperiment", "getExperimentResults"} {
		if _, err := call(t, ops[op], outsider, id, nil); status(err) != 404 || strings.Contains(err.Error(), "red") {
			t.Errorf("another team %s: %v", op, err)
		}
	}
	if _, err := call(t, ops["getExperimentResults"], viewer, id, nil); status(err) != 409 || !strings.Contains(err.Error(), "is draft") {
		t.Errorf("results of a draft: %v", err)
	}

	// Analyzed: results come back as stored, unmeasured values null with
	// their reason.
	drive(t, a, id, toSucceeded[:5]...)
	r, _ := a.Store.Get(ctx, id)
	res := experiment.Decide("results", r.Spec.Spec.Criteria, experiment.DataFacts{Agents: 1, EmptyStreams: []string{"results--conservative"}},
		[]experiment.Figures{{Candidate: "conservative", SeriesReductionUnknownReason: "the stream has no data"}}, experiment.Policy{})
	if _, err := a.Store.Apply(ctx, id, r.Version, experiment.EvNoData, "runner", "no data", func(rec *experiment.Record) { rec.Results = &res }); err != nil {
		t.Fatal(err)
	}
	got, err := call(t, ops["getExperimentResults"], viewer, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if !strings.Contains(string(b), `"outcome":"inconclusive"`) || !strings.Contains(string(b), `"measured":null`) ||
		!strings.Contains(string(b), `"measured_unknown_reason":"`) {
		t.Errorf("results: %s", b)
	}
}
