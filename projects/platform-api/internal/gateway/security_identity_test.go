package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
)

// loginFrom logs in through the handler as a client at addr (the test
// listener only ever sees 127.0.0.1).
func loginFrom(t *testing.T, e *testEnv, addr, user, password string) *httptest.ResponseRecorder {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req := httptest.NewRequest("POST", "/api/v1/auth/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	e.gw.Handler().ServeHTTP(rec, req)
	return rec
}

// TestLoginThrottlePerClient: wrong passwords from one address shut out
// that address, not the admin (issue 14 §6).
func TestLoginThrottlePerClient(t *testing.T) {
	e := newEnv(t, func(c *config.Server) { c.Auth.RateLimitLogin = 3 })
	for range 3 {
		if rec := loginFrom(t, e, "192.0.2.10", "admin", "wrong-password!"); rec.Code != 401 {
			t.Fatalf("wrong password: %d %s", rec.Code, rec.Body)
		}
	}
	rec := loginFrom(t, e, "192.0.2.10", "admin", adminPassword)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("failing client with the right password: %d (Retry-After %q), want 429", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := loginFrom(t, e, "192.0.2.20", "admin", adminPassword); rec.Code != 200 {
		t.Fatalf("another client with the right password: %d %s", rec.Code, rec.Body)
	}
	// The failing address is throttled for other users too only after
	// failing for them.
	if rec := loginFrom(t, e, "192.0.2.10", "nobody", "wrong-password!"); rec.Code != 401 {
		t.Fatalf("other user from the failing address: %d", rec.Code)
	}
}

// TestRefreshReuseRevokesChain: a rotated-away refresh token coming back
// ends the session: the token issued from it and its access tokens stop
// working (issue 14 §6).
func TestRefreshReuseRevokesChain(t *testing.T) {
	e := newEnv(t)
	_, refresh1 := e.login("admin", adminPassword)
	var tok apiv1.Tokens
	e.must(200, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh1})).decode(t, &tok)
	e.must(200, e.do("GET", "/api/v1/auth/me", tok.AccessToken, nil))

	r := e.must(401, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh1}))
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("reused refresh token: WWW-Authenticate %q", got)
	}
	e.must(401, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}))
	e.must(401, e.do("GET", "/api/v1/auth/me", tok.AccessToken, nil))
	// A new login is unaffected.
	access, _ := e.login("admin", adminPassword)
	e.must(200, e.do("GET", "/api/v1/auth/me", access, nil))
}

// TestControlCharactersInNames: names that would rewrite a terminal or
// read as another name are refused (issue 14 §6).
func TestControlCharactersInNames(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	key := func(name string) map[string]any {
		return map[string]any{"name": name, "role": "viewer", "scopes": []string{"read"}}
	}
	for _, tt := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/users", map[string]any{"username": "bob\x00", "password": "long-enough-password", "role": "viewer"}, 400},
		{"/api/v1/users", map[string]any{"username": "bob\x1b[2J", "password": "long-enough-password", "role": "viewer"}, 400},
		{"/api/v1/teams", map[string]any{"name": "ops\x00"}, 400},
		{"/api/v1/teams", map[string]any{"name": "ops\x1b[31m"}, 400},
		{"/api/v1/apikeys", key("ci\x00"), 400},
		{"/api/v1/apikeys", key("ci\x1b]0;pwned\x07"), 400},
		{"/api/v1/apikeys", key("ci\u202egnp.exe"), 400},
		{"/api/v1/apikeys", key("ci\ttab"), 400},
		{"/api/v1/apikeys", key("ci – déploiement ✓"), 201},
	} {
		r := e.do("POST", tt.path, admin, tt.body)
		if r.Status != tt.want {
			t.Errorf("POST %s %q: %d, want %d: %s", tt.path, tt.body, r.Status, tt.want, r.Body)
		}
	}
}

// TestWWWAuthenticate: every 401 carries an RFC 6750 challenge, with
// error="invalid_token" when a token was sent.
func TestWWWAuthenticate(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, method, path, token string
		body                      any
		want                      string
	}{
		{"no token", "GET", "/api/v1/auth/me", "", nil, `Bearer realm="phoenix"`},
		{"unknown route, no token", "GET", "/api/v1/nothing", "", nil, `Bearer realm="phoenix"`},
		{"bad jwt", "GET", "/api/v1/auth/me", "eyJhbGciOiJIUzI1NiJ9.e30.x", nil, `Bearer realm="phoenix", error="invalid_token"`},
		{"unknown key", "GET", "/api/v1/users", "phx_bogus", nil, `Bearer realm="phoenix", error="invalid_token"`},
		{"wrong password", "POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password!"}, `Bearer realm="phoenix"`},
		{"bad refresh token", "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": "nope"}, `Bearer realm="phoenix", error="invalid_token"`},
	} {
		r := e.do(tt.method, tt.path, tt.token, tt.body)
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != tt.want {
			t.Errorf("%s: %d WWW-Authenticate %q, want 401 %q", tt.name, r.Status, r.Header.Get("WWW-Authenticate"), tt.want)
		}
	}
}
