package gateway

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

func settingsForTest() service.Settings {
	cfg := config.DefaultServer()
	return service.Settings{Config: &cfg}
}

// TestRoutesMatchSpec: every route is in api/openapi.yaml and every operation
// there is served (New refuses to build otherwise).
func TestRoutesMatchSpec(t *testing.T) {
	g, err := New(settingsForTest())
	if err != nil {
		t.Fatal(err)
	}
	pols, err := specOps(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.routes) != len(pols) {
		t.Fatalf("%d routes, %d operations", len(g.routes), len(pols))
	}
	for _, rt := range g.routes {
		if rt.Policy.Role == "" {
			t.Errorf("%s %s has no role", rt.Method, rt.Pattern)
		}
	}
	// Public routes are exactly ARCHITECTURE.md's list.
	want := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/api/v1/openapi.yaml": true,
		"/api/v1/docs": true, "/api/v1/auth/login": true, "/api/v1/auth/refresh": true}
	for _, rt := range g.routes {
		if rt.Policy.Role == rolePublic && !want[rt.Pattern] {
			t.Errorf("%s %s is public but not in ARCHITECTURE.md's list", rt.Method, rt.Pattern)
		}
	}
}

func TestRouteMissingFromSpecFailsStart(t *testing.T) {
	saved := routeSets
	t.Cleanup(func() { routeSets = saved })
	routeSets = append(append([]func() []Route(nil), saved...), func() []Route {
		return []Route{{Method: "GET", Pattern: "/api/v1/not-in-spec/{id}", Subject: "phoenix.nobody.get"}}
	})
	_, err := New(settingsForTest())
	if err == nil || !strings.Contains(err.Error(), "GET /api/v1/not-in-spec/{id} is not in api/openapi.yaml") {
		t.Fatalf("New accepted a route missing from the spec: %v", err)
	}
}

func TestSpecOpsRejectsBadRoles(t *testing.T) {
	for name, doc := range map[string]string{
		"missing role": "paths:\n  /a:\n    get:\n      summary: x\n",
		"bad role":     "paths:\n  /a:\n    get:\n      x-phoenix-role: root\n",
		"bad scope":    "paths:\n  /a:\n    get:\n      x-phoenix-role: viewer\n      x-phoenix-scope: everything\n",
	} {
		if _, err := specOps([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	pols, err := specOps([]byte("paths:\n  /a/{id}:\n    parameters: []\n    delete:\n      x-phoenix-role: admin\n      x-phoenix-scope: admin\n"))
	if err != nil || pols["DELETE /a/{id}"].Role != "admin" {
		t.Fatalf("good spec: %v %+v", err, pols)
	}
}

func FuzzSpecOps(f *testing.F) {
	f.Add(api.OpenAPI)
	f.Add([]byte("paths:\n  /a:\n    get:\n      x-phoenix-role: viewer\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		pols, err := specOps(doc)
		if err != nil {
			return
		}
		for k, p := range pols {
			if _, ok := roleRank[p.Role]; !ok && p.Role != rolePublic {
				t.Fatalf("%s accepted with role %q", k, p.Role)
			}
		}
	})
}

// TestRequestsValidatedAgainstSpec: parameters and bodies are checked against
// api/openapi.yaml before a handler or a service sees them.
func TestRequestsValidatedAgainstSpec(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	cases := []struct {
		method, path, body, field string
	}{
		{"GET", "/api/v1/users?limit=1000", "", "limit"},
		{"GET", "/api/v1/audit?limit=0", "", "limit"},
		{"POST", "/api/v1/users", `{"username":"eve","password":"long-enough-password","role":"root"}`, "role"},
		{"POST", "/api/v1/users", `{"username":"eve","password":"short","role":"viewer"}`, "password"},
		{"POST", "/api/v1/apikeys", `{"name":"k","role":"viewer","scopes":["everything"]}`, "scopes"},
		{"POST", "/api/v1/auth/login", `{"username":"admin"}`, ""},
		{"POST", "/api/v1/teams", `not json`, ""},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, admin, c.body)
		if r.Status != 400 {
			t.Errorf("%s %s %s: %d, want 400: %s", c.method, c.path, c.body, r.Status, r.Body)
			continue
		}
		if c.field != "" && !strings.Contains(string(r.Body), c.field) {
			t.Errorf("%s %s: the problem does not name %q: %s", c.method, c.path, c.field, r.Body)
		}
	}
	// A valid request still passes, and the handler sees the body.
	e.must(201, e.do("POST", "/api/v1/teams", admin, `{"name":"ok-team"}`))
}

// TestSpecIsValidOpenAPI: the contract itself is a valid OpenAPI 3 document.
func TestSpecIsValidOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
}
