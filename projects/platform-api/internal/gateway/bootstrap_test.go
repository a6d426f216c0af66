package gateway

import (
	"slices"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// problemBody is a validation problem's field errors.
type problemBody struct {
	Errors []struct{ Path, Message string } `json:"errors"`
}

// TestFreshServerIssuesKeys: a fresh server has the default team with the
// admin in it, and an API key created without teams acts for the caller's
// teams (issue 13 §2); an unknown team says how to create it.
func TestFreshServerIssuesKeys(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	var team apiv1.Team
	e.must(200, e.do("GET", "/api/v1/teams/default", admin, nil)).decode(t, &team)
	if !slices.Equal(team.Members, []string{"admin"}) {
		t.Fatalf("default team members %v, want [admin]", team.Members)
	}
	root := e.createUser(admin, "root", "admin", "ops", "sre")

	for _, tt := range []struct {
		name, token string
		body        map[string]any
		wantTeams   []string
	}{
		{"admin in default", admin, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"ingest"}}, []string{"default"}},
		{"admin in two teams", root, map[string]any{"name": "k", "role": "operator", "scopes": []string{"ingest", "read"}}, []string{"ops", "sre"}},
		{"empty list", root, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"read"}, "teams": []string{}}, []string{"ops", "sre"}},
		{"named", root, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"read"}, "teams": []string{"default"}}, []string{"default"}},
	} {
		var k apiv1.APIKey
		e.must(201, e.do("POST", "/api/v1/apikeys", tt.token, tt.body)).decode(t, &k)
		if !slices.Equal(k.Teams, tt.wantTeams) {
			t.Errorf("%s: key teams %v, want %v", tt.name, k.Teams, tt.wantTeams)
		}
		// The key works for ingest or reads as created.
		if r := e.do("GET", "/api/v1/auth/me", k.Key, nil); r.Status != 200 && r.Status != 403 {
			t.Errorf("%s: key refused: %d %s", tt.name, r.Status, r.Body)
		}
	}

	// The body phoenix apikey create sends for --name k --scope ingest (the
	// same type, so unset fields are omitted): accepted by the contract. The
	// old CLI sent teams: null, which the spec refuses.
	var k apiv1.APIKey
	e.must(201, e.do("POST", "/api/v1/apikeys", admin, apiv1.CreateAPIKeyRequest{Name: "k", Role: "viewer", Scopes: []string{"ingest"}})).decode(t, &k)
	if !slices.Equal(k.Teams, []string{"default"}) || k.ExpiresAt != nil {
		t.Fatalf("CLI-shaped key: %+v", k)
	}
	e.must(400, e.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"ingest"}, "teams": nil}))

	var pb problemBody
	r := e.must(400, e.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"read"}, "teams": []string{"default", "nope"}}))
	r.decode(t, &pb)
	if len(pb.Errors) != 1 || pb.Errors[0].Path != "teams[1]" || !strings.Contains(pb.Errors[0].Message, "phoenix team create nope") {
		t.Fatalf("unknown team: %s", r.Body)
	}

	// Without the default team, an admin in no team is told what to do.
	e.must(204, e.do("DELETE", "/api/v1/teams/default", admin, nil))
	r = e.must(400, e.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "k", "role": "viewer", "scopes": []string{"read"}}))
	pb = problemBody{}
	r.decode(t, &pb)
	if len(pb.Errors) != 1 || pb.Errors[0].Path != "teams" || !strings.Contains(pb.Errors[0].Message, "phoenix team create default") {
		t.Fatalf("no team: %s", r.Body)
	}
}
