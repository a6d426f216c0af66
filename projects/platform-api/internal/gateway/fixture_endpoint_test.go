package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// widget is what the fixture endpoint lists.
type widget struct {
	ID    string `json:"id"`
	Team  string `json:"team"`
	Color string `json:"color"`
}

// TestFixtureEndpoint: an endpoint that exists only in this test (a spec
// entry in testdata/fixture_endpoint.yaml and a handler served through
// pkg/apiv1 on the gateway's in-process NATS) is reachable through the real
// gateway with its x-phoenix-role enforced, its parameters validated
// against the spec and the list contract applied, without a line of gateway
// code naming it.
func TestFixtureEndpoint(t *testing.T) {
	fixture, err := os.ReadFile("testdata/fixture_endpoint.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := bytes.Replace(api.OpenAPI, []byte("\npaths:\n"), append([]byte("\npaths:\n"), fixture...), 1)
	if bytes.Equal(spec, api.OpenAPI) {
		t.Fatal("the fixture was not spliced into the spec")
	}
	e := startEnv(t, func(s service.Settings) (*Gateway, error) { return newGateway(s, spec) })

	// The fixture service: seven widgets of team red-team, three of blue-team.
	var all []widget
	for i := range 7 {
		all = append(all, widget{ID: fmt.Sprintf("w%d", i+1), Team: "red-team", Color: []string{"red", "blue"}[i%2]})
	}
	for i := range 3 {
		all = append(all, widget{ID: fmt.Sprintf("b%d", i+1), Team: "blue-team", Color: "blue"})
	}
	var calls atomic.Int32
	ops := apiv1.Operations{
		"listFixtureWidgets": apiv1.ListOf(func(_ context.Context, req *apiv1.Request, cursor string, n int) ([]widget, error) {
			calls.Add(1)
			team := req.Params["team"]
			if !req.Principal.InTeam(team) {
				return nil, problem.NotFound("team %s not found", team)
			}
			var mine []widget
			for _, w := range all {
				if w.Team == team && (req.Query.Get("color") == "" || w.Color == req.Query.Get("color")) {
					mine = append(mine, w)
				}
			}
			return apiv1.After(mine, cursor, n, func(w widget) string { return w.ID })
		}, func(w widget) string { return w.ID }),
	}
	if err := apiv1.CheckServed(spec, "fixture", ops.IDs()); err != nil {
		t.Fatal(err)
	}
	svc, err := e.app.Settings.Bus.AddService(messaging.ServiceConfig{Name: "fixture", Version: "0.0.1", Endpoints: ops.Endpoints("fixture")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })

	admin := e.adminToken()
	viewer := e.createUser(admin, "vera", "viewer", "red-team")
	operator := e.createUser(admin, "otto", "operator", "red-team")
	outsider := e.createUser(admin, "olga", "operator", "blue-team")
	base := "/api/v1/fixture/teams/red-team/widgets"

	// RBAC and validation happen in the gateway: the service never sees
	// these requests.
	for _, c := range []struct {
		name, token, query string
		want               int
	}{
		{"no credentials", "", "", 401},
		{"viewer is below x-phoenix-role operator", viewer, "", 403},
		{"limit over 500", operator, "?limit=501", 400},
		{"limit 0", operator, "?limit=0", 400},
		{"color outside the enum", operator, "?color=green", 400},
	} {
		r := e.do("GET", base+c.query, c.token, nil)
		if r.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.want, r.Body)
		}
	}
	if r := e.do("GET", "/api/v1/fixture/teams/Not_A_Team/widgets", operator, nil); r.Status != 400 {
		t.Errorf("path parameter outside its pattern: %d, want 400", r.Status)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the service saw %d requests the gateway should have refused", n)
	}

	// The caller reaches the service: another team's widgets are 404.
	if r := e.do("GET", base, outsider, nil); r.Status != 404 {
		t.Errorf("another team's widgets: %d, want 404: %s", r.Status, r.Body)
	}

	// Pages of 3 over 7 widgets: 3 + 3 + 1, then next_cursor is null.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("more pages than widgets: %v", got)
		}
		q := url.Values{"limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page apiv1.List[widget]
		e.must(200, e.do("GET", base+"?"+q.Encode(), operator, nil)).decode(t, &page)
		if len(page.Items) > 3 {
			t.Fatalf("page of %d over limit 3", len(page.Items))
		}
		for _, w := range page.Items {
			got = append(got, w.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if fmt.Sprint(got) != "[w1 w2 w3 w4 w5 w6 w7]" {
		t.Errorf("pages gave %v", got)
	}
	// Default limit, a query filter, an empty list and a bad cursor.
	var page apiv1.List[widget]
	e.must(200, e.do("GET", base+"?color=red", operator, nil)).decode(t, &page)
	if len(page.Items) != 4 || page.NextCursor != nil {
		t.Errorf("red widgets: %+v", page)
	}
	if r := e.must(200, e.do("GET", "/api/v1/fixture/teams/blue-team/widgets?color=red", outsider, nil)); string(bytes.TrimSpace(r.Body)) != `{"items":[],"next_cursor":null}` {
		t.Errorf("empty page: %s", r.Body)
	}
	if r := e.do("GET", base+"?cursor=nope", operator, nil); r.Status != 400 || !bytes.Contains(r.Body, []byte(`"cursor"`)) {
		t.Errorf("unknown cursor: %d %s", r.Status, r.Body)
	}
	// The served document is the spec the routes came from.
	if r := e.must(200, e.do("GET", "/api/v1/openapi.yaml", "", nil)); !bytes.Contains(r.Body, []byte("listFixtureWidgets")) {
		t.Error("the served openapi.yaml lacks the fixture operation")
	}
}
