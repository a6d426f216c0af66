package adaptiveapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/adaptive"
)

var (
	operator = apiv1.Principal{Subject: "otto", Kind: "user", Role: "operator", Teams: []string{"red"}}
	viewer   = apiv1.Principal{Subject: "vera", Kind: "user", Role: "viewer", Teams: []string{"red"}}
	outsider = apiv1.Principal{Subject: "olga", Kind: "user", Role: "operator", Teams: []string{"blue"}}
	admin    = apiv1.Principal{Subject: "ada", Kind: "user", Role: "admin"}
)

const body = `{"selector": {"env": "prod"}, "stream": "prod", "action": "shadow", "modes": [
	{"name": "conservative", "pipeline_id": "pl-1", "pipeline_version": 1, "up_to": 10000},
	{"name": "aggressive", "pipeline_id": "pl-2", "pipeline_version": 1}]}`

func newAPI(t *testing.T) *API {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := adaptive.NewStore(db)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &API{Store: s}
}

func call(h apiv1.Handler, p apiv1.Principal, id string, query url.Values, b string) (any, error) {
	var raw []byte
	if b != "" {
		raw = []byte(b)
	}
	return h(context.Background(), &apiv1.Request{Principal: p, Params: map[string]string{"id": id}, Query: query, Body: raw})
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

// TestRBAC: operators write their team's policies, viewers read them,
// another team's policy is 404 for every operation, admins see all.
func TestRBAC(t *testing.T) {
	a := newAPI(t)
	ops := a.Operations()
	if _, err := call(ops["createAdaptivePolicy"], viewer, "", nil, body); status(err) != 403 {
		t.Fatalf("viewer creates: %v", err)
	}
	if _, err := call(ops["createAdaptivePolicy"], operator, "", url.Values{"team": {"blue"}}, body); status(err) != 403 {
		t.Fatalf("operator creates for another team: %v", err)
	}
	if _, err := call(ops["createAdaptivePolicy"], operator, "", nil, `{"stream": "", "modes": [], "selector": {}}`); status(err) != 400 {
		t.Fatalf("invalid policy: %v", err)
	}
	out, err := call(ops["createAdaptivePolicy"], operator, "", nil, body)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(messaging.StatusReply).Body.(*apiv1.AdaptivePolicy)
	if p.Team != "red" || p.CreatedBy != "otto" {
		t.Fatalf("created %+v", p)
	}
	for _, c := range []struct {
		op   string
		who  apiv1.Principal
		body string
		want int
	}{
		{"getAdaptivePolicy", viewer, "", 200},
		{"getAdaptivePolicy", admin, "", 200},
		{"getAdaptivePolicy", outsider, "", 404},
		{"updateAdaptivePolicy", outsider, body, 404},
		{"updateAdaptivePolicy", viewer, body, 403},
		{"deleteAdaptivePolicy", outsider, "", 404},
		{"deleteAdaptivePolicy", viewer, "", 403},
	} {
		if _, err := call(ops[c.op], c.who, p.ID, nil, c.body); status(err) != c.want {
			t.Errorf("%s as %s: %v, want %d", c.op, c.who.Subject, err, c.want)
		}
	}
	lists := map[string]int{"vera": 1, "olga": 0, "ada": 1}
	for _, who := range []apiv1.Principal{viewer, outsider, admin} {
		out, err := call(ops["listAdaptivePolicies"], who, "", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		var l apiv1.List[apiv1.AdaptivePolicy]
		_ = json.Unmarshal(b, &l)
		if len(l.Items) != lists[who.Subject] {
			t.Errorf("%s lists %d policies, want %d", who.Subject, len(l.Items), lists[who.Subject])
		}
	}
	if _, err := call(ops["updateAdaptivePolicy"], operator, p.ID, url.Values{"version": {"x"}}, body); status(err) != 400 {
		t.Errorf("bad version: %v", err)
	}
	up, err := call(ops["updateAdaptivePolicy"], operator, p.ID, url.Values{"version": {"1"}}, body)
	if err != nil || up.(*apiv1.AdaptivePolicy).Version != 2 {
		t.Fatalf("update: %+v, %v", up, err)
	}
	if _, err := call(ops["updateAdaptivePolicy"], operator, p.ID, url.Values{"version": {"1"}}, body); status(err) != 409 {
		t.Errorf("stale update: %v", err)
	}
	if _, err := call(ops["deleteAdaptivePolicy"], operator, p.ID, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := call(ops["getAdaptivePolicy"], operator, p.ID, nil, ""); status(err) != 404 {
		t.Errorf("get after delete: %v", err)
	}
}
