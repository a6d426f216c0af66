package gateway

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
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

// TestSpecAndHandlersDisagreeFailsStart: a gateway operation in the spec
// without a handler, a handler without an operation, and an operation with
// no x-phoenix-service all stop New.
func TestSpecAndHandlersDisagreeFailsStart(t *testing.T) {
	extra := "  /api/v1/not-served/{id}:\n    get:\n      operationId: getNotServed\n      x-phoenix-service: platform-api\n" +
		"      x-phoenix-role: viewer\n      parameters:\n        - {name: id, in: path, required: true, schema: {type: string}}\n" +
		"      responses:\n        \"200\": {description: x}\n"
	cases := []struct {
		name string
		spec string
		want string
	}{
		{"gateway operation without handler", strings.Replace(string(api.OpenAPI), "\npaths:\n", "\npaths:\n"+extra, 1),
			"operation getNotServed (GET /api/v1/not-served/{id}) in api/openapi.yaml has no handler in the gateway"},
		{"handler without operation", strings.Replace(string(api.OpenAPI), "operationId: listAudit", "operationId: listAuditRenamed", 1),
			"gateway handler listAudit is not an operation of platform-api in api/openapi.yaml"},
		{"operation without service", strings.Replace(string(api.OpenAPI), "x-phoenix-service: analytics", "x-phoenix-service: ''", 1),
			"x-phoenix-service \"\" is not a service name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.spec == string(api.OpenAPI) {
				t.Fatal("the test did not change the spec")
			}
			_, err := newGateway(settingsForTest(), []byte(c.spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestForwardedRoutesFollowTheSubjectRule: every operation another service
// answers is forwarded to apiv1.Subject(service, operationId), and only those.
func TestForwardedRoutesFollowTheSubjectRule(t *testing.T) {
	g, err := New(settingsForTest())
	if err != nil {
		t.Fatal(err)
	}
	ops, err := apiv1.ParseSpec(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]registered{}
	for _, rt := range g.routes {
		byKey[rt.Method+" "+rt.Pattern] = rt
	}
	forwarded := 0
	for _, op := range ops {
		rt, ok := byKey[op.Key()]
		switch {
		case !ok:
			t.Errorf("%s (%s) has no route", op.Key(), op.OperationID)
		case op.Service == apiv1.Gateway && (rt.Forward != nil || rt.Handler == nil):
			t.Errorf("%s is the gateway's own but is not answered by a gateway handler", op.Key())
		case op.Service != apiv1.Gateway && (rt.Forward == nil || rt.Forward.Subject != "phoenix."+op.Service+".rest."+op.OperationID):
			t.Errorf("%s: forwarded to %+v, want phoenix.%s.rest.%s", op.Key(), rt.Forward, op.Service, op.OperationID)
		case op.Service != apiv1.Gateway:
			forwarded++
		}
	}
	if forwarded < 20 {
		t.Fatalf("only %d forwarded routes: the spec lost its x-phoenix-service marks?", forwarded)
	}
}

func FuzzSpecOps(f *testing.F) {
	f.Add(api.OpenAPI)
	f.Add([]byte("paths:\n  /a:\n    get:\n      operationId: getA\n      x-phoenix-service: a\n      x-phoenix-role: viewer\n"))
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
