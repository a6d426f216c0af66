package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/audit"
)

func TestLoginRefreshLogout(t *testing.T) {
	e := newEnv(t)
	e.must(401, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password!"}))
	e.must(401, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "nobody", "password": "wrong-password!"}))
	e.must(400, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword, "role": "admin"}))

	access, refresh := e.login("admin", adminPassword)
	var me apiv1.Principal
	e.must(200, e.do("GET", "/api/v1/auth/me", access, nil)).decode(t, &me)
	if me.Subject != "admin" || me.Role != "admin" || me.Kind != "user" {
		t.Fatalf("me: %+v", me)
	}

	// Refresh rotates. (Reusing the old refresh token now would revoke the
	// whole session: TestRefreshReuseRevokesChain; it is tried after logout.)
	var tok apiv1.Tokens
	e.must(200, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})).decode(t, &tok)
	e.must(200, e.do("GET", "/api/v1/auth/me", tok.AccessToken, nil))

	// Logout revokes the session: both access tokens and the refresh tokens.
	e.must(204, e.do("POST", "/api/v1/auth/logout", tok.AccessToken, nil))
	e.must(401, e.do("GET", "/api/v1/auth/me", tok.AccessToken, nil))
	e.must(401, e.do("GET", "/api/v1/auth/me", access, nil))
	e.must(401, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}))
	e.must(401, e.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refresh}))

	// Logins, successful or not, are in the audit log.
	admin := e.adminToken()
	var audit apiv1.List[audit.Entry]
	e.must(200, e.do("GET", "/api/v1/audit?actor=admin&limit=500", admin, nil)).decode(t, &audit)
	var ok, failed, logout bool
	for _, a := range audit.Items {
		switch {
		case a.Action == "POST /api/v1/auth/login" && a.Status == 200:
			ok = true
		case a.Action == "POST /api/v1/auth/login" && a.Status == 401:
			failed = true
		case a.Action == "POST /api/v1/auth/logout" && a.Status == 204:
			logout = true
		}
	}
	if !ok || !failed || !logout {
		t.Fatalf("audit log misses logins or logout (ok=%v failed=%v logout=%v): %+v", ok, failed, logout, audit.Items)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, func(c *config.Server) { c.Auth.RateLimitLogin = 3 })
	for range 3 {
		e.must(401, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": "wrong-password!"}))
	}
	r := e.must(429, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword}))
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	readKey, readID := e.createKey(admin, map[string]any{"name": "ci", "role": "operator", "scopes": []string{"read"}})
	if !strings.HasPrefix(readKey, "phx_") {
		t.Fatalf("key %q", readKey)
	}
	e.must(200, e.do("GET", "/api/v1/status", readKey, nil))
	// The key never shows again.
	r := e.must(200, e.do("GET", "/api/v1/apikeys/"+readID, admin, nil))
	if strings.Contains(string(r.Body), readKey) || strings.Contains(string(r.Body), "key_hash") {
		t.Fatalf("secret visible after create: %s", r.Body)
	}
	// Scope: a read key cannot write; keys cannot log out.
	e.must(403, e.do("POST", "/api/v1/teams", readKey, map[string]string{"name": "x"}))
	e.must(403, e.do("POST", "/api/v1/auth/logout", readKey, nil))
	// A tampered key fails the checksum (its last character changed: to
	// "y" when it already is "x", so the key really differs).
	tampered := readKey[:len(readKey)-1] + "x"
	if tampered == readKey {
		tampered = readKey[:len(readKey)-1] + "y"
	}
	e.must(401, e.do("GET", "/api/v1/status", tampered, nil))
	// Revoked: refused at once.
	e.must(204, e.do("DELETE", "/api/v1/apikeys/"+readID, admin, nil))
	e.must(401, e.do("GET", "/api/v1/status", readKey, nil))
	// Expired keys are refused.
	soon := time.Now().Add(1500 * time.Millisecond).UTC()
	expKey, _ := e.createKey(admin, map[string]any{"name": "short", "role": "viewer", "scopes": []string{"read"}, "expires_at": soon})
	e.must(200, e.do("GET", "/api/v1/status", expKey, nil))
	pollStatus(t, e, expKey, 401, 5*time.Second)
	// Mass assignment: read-only fields are rejected.
	e.must(400, e.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "x", "role": "viewer", "scopes": []string{"read"}, "revoked_at": nil}))
	e.must(400, e.do("POST", "/api/v1/apikeys", admin, map[string]any{"name": "x", "role": "viewer", "scopes": []string{"admin"}}))
}

// pollStatus waits until GET /api/v1/status answers want for token.
func pollStatus(t *testing.T, e *testEnv, token string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.do("GET", "/api/v1/status", token, nil)
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d, want %d within %s", r.Status, want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	oldKid := kidOf(t, admin)
	var out struct {
		KID string `json:"kid"`
	}
	e.must(201, e.do("POST", "/api/v1/auth/keys/rotate", admin, nil)).decode(t, &out)
	// Tokens from the old key stay valid until it retires.
	e.must(200, e.do("GET", "/api/v1/auth/me", admin, nil))
	fresh := e.adminToken()
	if k := kidOf(t, fresh); k != out.KID || k == oldKid {
		t.Fatalf("new token kid %q, want %q (old %q)", k, out.KID, oldKid)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	var hdr struct {
		Kid string `json:"kid"`
	}
	raw, err := decodeSegment(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &hdr)
	return hdr.Kid
}

func TestAuthenticateEndpoint(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	ingest, _ := e.createKey(admin, map[string]any{"name": "collector", "role": "operator", "scopes": []string{"ingest"}})
	read, _ := e.createKey(admin, map[string]any{"name": "ro", "role": "viewer", "scopes": []string{"read"}})
	ask := func(tok, scope string) (apiv1.Principal, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var p apiv1.Principal
		err := e.app.Settings.Bus.Request(ctx, apiv1.SubjectAuthenticate, apiv1.AuthenticateRequest{Token: tok, Scope: scope}, &p)
		return p, err
	}
	if p, err := ask(ingest, "ingest"); err != nil || p.Kind != "api_key" {
		t.Fatalf("ingest key: %+v %v", p, err)
	}
	if _, err := ask(read, "ingest"); problem.From(err).Status != http.StatusForbidden {
		t.Fatalf("read key for ingest: %v", err)
	}
	if _, err := ask("phx_bogus", "ingest"); problem.From(err).Status != http.StatusUnauthorized {
		t.Fatalf("bogus key: %v", err)
	}
	if _, err := ask("", "ingest"); problem.From(err).Status != http.StatusUnauthorized {
		t.Fatalf("no token with ingest closed: %v", err)
	}
	if p, err := ask(admin, "agent"); err != nil || p.Subject != "admin" {
		t.Fatalf("admin JWT for agent: %+v %v", p, err)
	}
}

func TestAuthenticateIngestOpenInDev(t *testing.T) {
	e := newEnv(t, func(c *config.Server) { c.Dev = true })
	if !e.cfg.Auth.IngestOpen {
		t.Fatal("--dev did not imply auth.ingest_open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p apiv1.Principal
	if err := e.app.Settings.Bus.Request(ctx, apiv1.SubjectAuthenticate, apiv1.AuthenticateRequest{Scope: "ingest"}, &p); err != nil || p.Kind != "anonymous" {
		t.Fatalf("open ingest: %+v %v", p, err)
	}
	// Open ingest never opens the REST API.
	if err := e.app.Settings.Bus.Request(ctx, apiv1.SubjectAuthenticate, apiv1.AuthenticateRequest{Scope: "read"}, &p); problem.From(err).Status != 401 {
		t.Fatalf("open ingest leaked to read: %v", err)
	}
}

func TestUsersTeamsAndMassAssignment(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	viewer := e.createUser(admin, "vera", "viewer", "alpha")
	e.must(403, e.do("GET", "/api/v1/users", viewer, nil))
	// Unknown or read-only fields: 400 and nothing created or changed.
	e.must(400, e.do("POST", "/api/v1/users", admin, map[string]any{"username": "mallory", "password": "long-enough-password", "role": "viewer", "created_at": "2020-01-01T00:00:00Z"}))
	e.must(404, e.do("GET", "/api/v1/users/mallory", admin, nil))
	e.must(400, e.do("PATCH", "/api/v1/users/vera", admin, map[string]any{"username": "root"}))
	e.must(400, e.do("PATCH", "/api/v1/users/vera", admin, map[string]any{"role": "superuser"}))
	var u apiv1.User
	e.must(200, e.do("GET", "/api/v1/users/vera", admin, nil)).decode(t, &u)
	if u.Role != "viewer" || len(u.Teams) != 1 || u.Teams[0] != "alpha" {
		t.Fatalf("user changed by refused updates: %+v", u)
	}
	// Role changes apply within the credential cache lifetime.
	e.must(200, e.do("PATCH", "/api/v1/users/vera", admin, map[string]any{"role": "operator"}))
	deadline := time.Now().Add(3 * time.Second)
	for {
		var me apiv1.Principal
		e.must(200, e.do("GET", "/api/v1/auth/me", viewer, nil)).decode(t, &me)
		if me.Role == "operator" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("role change not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Teams: members see their team, others get 404.
	bob := e.createUser(admin, "bob", "viewer", "beta")
	e.must(200, e.do("GET", "/api/v1/teams/alpha", viewer, nil))
	e.must(404, e.do("GET", "/api/v1/teams/alpha", bob, nil))
	var teams apiv1.List[apiv1.Team]
	e.must(200, e.do("GET", "/api/v1/teams", bob, nil)).decode(t, &teams)
	if len(teams.Items) != 1 || teams.Items[0].Name != "beta" {
		t.Fatalf("bob sees teams %+v", teams.Items)
	}
	// Deleting a user ends their sessions.
	e.must(204, e.do("DELETE", "/api/v1/users/bob", admin, nil))
	pollStatus(t, e, bob, 401, 3*time.Second)
}

func TestProtectionHeadersCORSAndBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Server) {
		c.Auth.AllowedOrigins = []string{"https://dash.example.com"}
		c.API.MaxBodyBytes = 1024
	})
	admin := e.adminToken()
	r := e.do("GET", "/api/v1/status", admin, nil, "Origin", "https://dash.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" {
		t.Fatalf("allowed origin not answered: %v", r.Header)
	}
	r = e.do("GET", "/api/v1/status", admin, nil, "Origin", "https://evil.example.com")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
	e.must(403, e.do("OPTIONS", "/api/v1/users", "", nil, "Origin", "https://evil.example.com", "Access-Control-Request-Method", "POST"))
	e.must(204, e.do("OPTIONS", "/api/v1/users", "", nil, "Origin", "https://dash.example.com", "Access-Control-Request-Method", "POST"))
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"} {
		if r.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	big := `{"name":"` + strings.Repeat("a", 4096) + `"}`
	e.must(413, e.do("POST", "/api/v1/teams", admin, big))
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Server) { c.Auth.RateLimitRead = 5 })
	admin := e.adminToken()
	n429 := 0
	// 12 requests: however a window boundary splits them, one window holds
	// at least 6, over the limit of 5.
	for range 12 {
		r := e.do("GET", "/api/v1/auth/me", admin, nil)
		if r.Status == 429 {
			n429++
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if n429 == 0 {
		t.Fatal("no request limited")
	}
	// A key with its own limit is not bound by the default.
	key, _ := e.createKey(admin, map[string]any{"name": "bench", "role": "viewer", "scopes": []string{"read"}, "rate_limit_per_minute": 1000})
	for range 8 {
		e.must(200, e.do("GET", "/api/v1/auth/me", key, nil))
	}
}

// decodeSegment decodes a base64url JWT segment.
func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func encodeSegment(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	vera := e.createUser(admin, "vera", "viewer")
	other, _ := e.login("vera", "password-of-vera")
	e.must(400, e.do("POST", "/api/v1/auth/password", vera, map[string]string{"current_password": "wrong-password!", "new_password": "a-new-long-password"}))
	e.must(400, e.do("POST", "/api/v1/auth/password", vera, map[string]string{"current_password": "password-of-vera", "new_password": "short"}))
	e.must(204, e.do("POST", "/api/v1/auth/password", vera, map[string]string{"current_password": "password-of-vera", "new_password": "a-new-long-password"}))
	// The caller's session survives; the others end; the new password works.
	e.must(200, e.do("GET", "/api/v1/auth/me", vera, nil))
	e.must(401, e.do("GET", "/api/v1/auth/me", other, nil))
	e.must(401, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": "vera", "password": "password-of-vera"}))
	e.login("vera", "a-new-long-password")
}

func TestLastAdminKept(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	other := e.createUser(admin, "root2", "admin")
	// Two admins: one may be demoted; then the remaining one may not.
	e.must(200, e.do("PATCH", "/api/v1/users/root2", admin, map[string]any{"role": "viewer"}))
	e.must(409, e.do("PATCH", "/api/v1/users/admin", admin, map[string]any{"role": "operator"}))
	e.must(200, e.do("PATCH", "/api/v1/users/root2", admin, map[string]any{"role": "admin"}))
	testutil.Eventually(t, 3*time.Second, func() bool { return e.do("GET", "/api/v1/users", other, nil).Status == 200 }, "root2 is admin again")
	e.must(204, e.do("DELETE", "/api/v1/users/admin", other, nil))
	e.must(409, e.do("PATCH", "/api/v1/users/root2", other, map[string]any{"role": "viewer"}))
}
