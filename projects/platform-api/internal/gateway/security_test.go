package gateway

// The security suite is generated from the router and api/openapi.yaml: every
// route the gateway serves, including the forwarded routes other projects add
// in api/openapi.yaml, is checked without anyone listing it here. A route
// with a path parameter needs a fixture (security_fixtures_<project>_test.go)
// that names an object owned by team B; the suite fails without one.

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
)

// fixtureEnv is what a fixture may use to create its object.
type fixtureEnv struct {
	*testEnv
	Admin string // admin access token
	// TeamA and TeamB are operators in teams "team-a" and "team-b".
	TeamA, TeamB string
}

// fixture names an object owned by team B for a route's path parameters.
type fixture struct {
	Params map[string]string
	// CrossTeamSkip, when set, says why team A's access to the object cannot
	// be checked in this package (e.g. the owning service does not run in the
	// gateway test: its own tests own that check). Never set it for a route
	// the gateway answers itself unless the route is admin-only.
	CrossTeamSkip string
}

// securityFixtures maps a route pattern to its fixture. Each project adds its
// own entries in security_fixtures_<project>_test.go:
//
//	func init() { securityFixtures["/api/v1/x/{id}"] = func(f *fixtureEnv) fixture { ... } }
var securityFixtures = map[string]func(f *fixtureEnv) fixture{}

func newSecurityEnv(t *testing.T) *fixtureEnv {
	t.Helper()
	e := newEnv(t)
	admin := e.adminToken()
	return &fixtureEnv{testEnv: e, Admin: admin,
		TeamA: e.createUser(admin, "alice", "operator", "team-a"),
		TeamB: e.createUser(admin, "bruno", "operator", "team-b")}
}

// fill puts parameters into a pattern.
func fill(pattern string, params map[string]string) string {
	out := pattern
	for k, v := range params {
		out = strings.ReplaceAll(out, "{"+k+"...}", v)
		out = strings.ReplaceAll(out, "{"+k+"}", v)
	}
	return out
}

func sortedRoutes(g *Gateway) []registered {
	rs := append([]registered(nil), g.routes...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Method+rs[i].Pattern < rs[j].Method+rs[j].Pattern })
	return rs
}

// fixturesFor resolves every route's parameters once, failing for routes
// without a fixture.
func fixturesFor(t *testing.T, f *fixtureEnv) map[string]fixture {
	t.Helper()
	out := map[string]fixture{}
	for _, rt := range sortedRoutes(f.gw) {
		if len(paramNames(rt.Pattern)) == 0 {
			continue
		}
		if _, done := out[rt.Pattern]; done {
			continue
		}
		mk, ok := securityFixtures[rt.Pattern]
		if !ok {
			t.Errorf("route %s %s has path parameters but no security fixture: add one to securityFixtures in security_fixtures_<project>_test.go",
				rt.Method, rt.Pattern)
			continue
		}
		fx := mk(f)
		for _, n := range paramNames(rt.Pattern) {
			if fx.Params[n] == "" {
				t.Errorf("fixture for %s sets no value for {%s}", rt.Pattern, n)
			}
		}
		out[rt.Pattern] = fx
	}
	return out
}

func bodyFor(method string) any {
	if mutating(method) {
		return map[string]any{}
	}
	return nil
}

func TestSecurityEveryRouteNeedsCredentials(t *testing.T) {
	f := newSecurityEnv(t)
	fx := fixturesFor(t, f)
	checked := 0
	for _, rt := range sortedRoutes(f.gw) {
		if rt.Policy.Role == rolePublic {
			continue
		}
		path := fill(rt.Pattern, fx[rt.Pattern].Params)
		for name, tok := range map[string]string{"none": "", "garbage": "garbage", "bad key": "phx_" + strings.Repeat("A", 50)} {
			r := f.do(rt.Method, path, tok, bodyFor(rt.Method))
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s %s with %s credentials: %d, want 401: %s", rt.Method, path, name, r.Status, r.Body)
			}
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked: is the router empty?", checked)
	}
}

// viewerMutations are the state-changing operations a viewer may call: they
// touch only the caller's own session or password.
var viewerMutations = map[string]bool{"POST /api/v1/auth/logout": true, "POST /api/v1/auth/password": true}

func TestSecurityViewerCannotMutate(t *testing.T) {
	f := newSecurityEnv(t)
	fx := fixturesFor(t, f)
	viewer := f.createUser(f.Admin, "victor", "viewer", "team-a")
	viewerKey, _ := f.createKey(f.Admin, map[string]any{"name": "ro", "role": "viewer", "scopes": []string{"read", "write"}})
	for _, rt := range sortedRoutes(f.gw) {
		if !mutating(rt.Method) || rt.Policy.Role == rolePublic {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		if rt.Policy.Role == roleViewer {
			if !viewerMutations[key] {
				t.Errorf("%s lets viewers change state: raise its x-phoenix-role or add it to viewerMutations with a reason", key)
			}
			continue
		}
		path := fill(rt.Pattern, fx[rt.Pattern].Params)
		for name, tok := range map[string]string{"viewer user": viewer, "viewer key": viewerKey} {
			if r := f.do(rt.Method, path, tok, bodyFor(rt.Method)); r.Status != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403: %s", rt.Method, path, name, r.Status, r.Body)
			}
		}
	}
	// Admin-only reads are closed to operators too.
	for _, rt := range sortedRoutes(f.gw) {
		if rt.Policy.Role != roleAdmin {
			continue
		}
		path := fill(rt.Pattern, fx[rt.Pattern].Params)
		if r := f.do(rt.Method, path, f.TeamA, bodyFor(rt.Method)); r.Status != http.StatusForbidden {
			t.Errorf("%s %s as operator: %d, want 403", rt.Method, path, r.Status)
		}
	}
}

func TestSecurityCrossTeam(t *testing.T) {
	f := newSecurityEnv(t)
	fx := fixturesFor(t, f)
	for _, rt := range sortedRoutes(f.gw) {
		fix, ok := fx[rt.Pattern]
		if !ok {
			continue
		}
		name := rt.Method + " " + rt.Pattern
		if roleRank[rt.Policy.Role] > roleRank[roleOperator] {
			// Admin-only: team A's operator is refused by role (checked
			// above) whatever the object; nothing to leak.
			continue
		}
		if fix.CrossTeamSkip != "" {
			if rt.Forward == nil {
				t.Errorf("%s: the gateway answers this route itself, so its team check must run here", name)
			}
			t.Logf("%s: cross-team check not run here: %s", name, fix.CrossTeamSkip)
			continue
		}
		path := fill(rt.Pattern, fix.Params)
		r := f.do(rt.Method, path, f.TeamA, bodyFor(rt.Method))
		if r.Status != http.StatusNotFound {
			t.Errorf("%s as team A on a team-B object: %d, want 404: %s", name, r.Status, r.Body)
		}
		for _, v := range fix.Params {
			if strings.Contains(string(r.Body), `"`+v+`"`) && !strings.Contains(string(r.Body), `"instance"`) {
				t.Errorf("%s: body names the team-B object: %s", name, r.Body)
			}
		}
		// The owner still gets it (so the 404 is a team decision).
		if rt.Method == "GET" {
			if r := f.do("GET", path, f.TeamB, nil); r.Status != http.StatusOK {
				t.Errorf("GET %s as team B (owner): %d, want 200", path, r.Status)
			}
		}
	}
	// Lists: team A never sees team B's objects.
	var teams apiv1.List[apiv1.Team]
	f.must(200, f.do("GET", "/api/v1/teams", f.TeamA, nil)).decode(t, &teams)
	for _, tm := range teams.Items {
		if tm.Name != "team-a" {
			t.Errorf("team A lists team %q", tm.Name)
		}
	}
}

func TestSecurityJWTNegatives(t *testing.T) {
	e := newEnv(t)
	good := e.adminToken()
	e.must(200, e.do("GET", "/api/v1/auth/me", good, nil))
	key, err := e.gw.authn.SigningKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := auth.VerifyAccessToken(good, e.gw.authn.LookupKey, e.gw.authn.Spec(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spec, sid, now := e.gw.authn.Spec(), claims.SessionID, time.Now()
	sign := func(k auth.SigningKey, s auth.TokenSpec, at time.Time) string {
		tok, err := auth.SignAccessToken(k, s, "admin", sid, "jti", at)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	noneTok := jwt.NewWithClaims(jwt.SigningMethodNone, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: spec.Issuer, Subject: "admin", Audience: jwt.ClaimStrings{spec.Audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now)}, SessionID: sid})
	noneTok.Header["kid"] = key.ID
	none, _ := noneTok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good, ".")
	payload, _ := decodeSegment(parts[1])
	tampered := parts[0] + "." + encodeSegment([]byte(strings.Replace(string(payload), `"admin"`, `"root"`, 1))) + "." + parts[2]

	cases := map[string]string{
		"alg none":       none,
		"wrong key":      sign(auth.SigningKey{ID: key.ID, Secret: []byte("a-different-secret-of-32-bytes!!")}, spec, now),
		"unknown kid":    sign(auth.SigningKey{ID: "no-such-kid", Secret: key.Secret}, spec, now),
		"expired":        sign(key, spec, now.Add(-spec.TTL-time.Minute)),
		"nbf in future":  sign(key, spec, now.Add(time.Hour)),
		"wrong audience": sign(key, auth.TokenSpec{Issuer: spec.Issuer, Audience: "other-api", TTL: spec.TTL}, now),
		"wrong issuer":   sign(key, auth.TokenSpec{Issuer: "evil", Audience: spec.Audience, TTL: spec.TTL}, now),
		"tampered":       tampered,
		"valid control":  sign(key, spec, now),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			want := http.StatusUnauthorized
			if name == "valid control" {
				want = http.StatusOK
			}
			e.must(want, e.do("GET", "/api/v1/auth/me", tok, nil))
		})
	}
}

func TestSecurityMassAssignment(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	e.createUser(admin, "vera", "viewer", "alpha")
	snapshot := func() string {
		var b strings.Builder
		for _, p := range []string{"/api/v1/users?limit=500", "/api/v1/teams?limit=500", "/api/v1/apikeys?limit=500"} {
			b.Write(e.must(200, e.do("GET", p, admin, nil)).Body)
		}
		return b.String()
	}
	before := snapshot()
	cases := []struct {
		method, path string
		body         string
	}{
		{"POST", "/api/v1/users", `{"username":"eve","password":"long-enough-password","role":"viewer","created_at":"2000-01-01T00:00:00Z"}`},
		{"POST", "/api/v1/users", `{"username":"eve","password":"long-enough-password","role":"viewer","password_hash":"x"}`},
		{"POST", "/api/v1/users", `{"username":"eve","password":"long-enough-password","role":"root"}`},
		{"PATCH", "/api/v1/users/vera", `{"username":"admin2"}`},
		{"PATCH", "/api/v1/users/vera", `{"role":"admin","updated_at":"2000-01-01T00:00:00Z"}`},
		{"POST", "/api/v1/teams", `{"name":"gamma","members":["vera"]}`},
		{"POST", "/api/v1/teams", `{"name":"gamma","owner":"vera"}`},
		{"POST", "/api/v1/apikeys", `{"name":"k","role":"viewer","scopes":["read"],"id":"chosen-id"}`},
		{"POST", "/api/v1/apikeys", `{"name":"k","role":"viewer","scopes":["read"],"revoked_at":null}`},
		{"POST", "/api/v1/apikeys", `{"name":"k","role":"viewer","scopes":["read"],"created_by":"someone"}`},
		{"POST", "/api/v1/apikeys", `{"name":"k","role":"viewer","scopes":["read"],"status":"active"}`},
	}
	for _, c := range cases {
		if r := e.do(c.method, c.path, admin, c.body); r.Status != http.StatusBadRequest {
			t.Errorf("%s %s %s: %d, want 400", c.method, c.path, c.body, r.Status)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("store changed by refused requests:\nbefore %s\nafter  %s", before, after)
	}
}

// TestSecurityMassAssignmentEveryRoute: every state-changing operation with a
// JSON body refuses unknown fields at the gateway (the spec says
// additionalProperties: false and requests are validated against it), so no
// service ever sees a body with fields it did not declare.
func TestSecurityMassAssignmentEveryRoute(t *testing.T) {
	f := newSecurityEnv(t)
	fx := fixturesFor(t, f)
	checked := 0
	for _, rt := range sortedRoutes(f.gw) {
		if !mutating(rt.Method) {
			continue
		}
		vr := f.gw.valid.routes[rt.Policy.Method+" "+rt.Policy.Path]
		if vr == nil || vr.Operation.RequestBody == nil || vr.Operation.RequestBody.Value == nil {
			continue
		}
		mt := vr.Operation.RequestBody.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil || !mt.Schema.Value.Type.Is("object") {
			continue
		}
		name := rt.Method + " " + rt.Pattern
		ap := mt.Schema.Value.AdditionalProperties
		if ap.Has == nil || *ap.Has {
			t.Errorf("%s: request body schema must say additionalProperties: false", name)
			continue
		}
		path := fill(rt.Pattern, fx[rt.Pattern].Params)
		tok := f.Admin
		if rt.Policy.Role == rolePublic {
			tok = ""
		}
		r := f.do(rt.Method, path, tok, map[string]any{"phoenix_unknown_field": true, "owner": "team-b", "status": "done"})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s with unknown fields: %d, want 400: %s", name, r.Status, r.Body)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d operations with JSON bodies checked", checked)
	}
}
