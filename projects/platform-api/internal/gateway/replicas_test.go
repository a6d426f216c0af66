package gateway

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// TestTwoGatewaysShareRevocationsAndLimits runs two gateway replicas, each
// with its own embedded NATS, on one PostgreSQL database and the local Redis.
func TestTwoGatewaysShareRevocationsAndLimits(t *testing.T) {
	redisURL := "redis://" + testutil.RedisAddr(t) + "/0"
	dbURL := testutil.FreshPostgres(t)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	shared := func(c *config.Server) {
		c.DatabaseURL, c.RedisURL, c.Auth.SecretKey = dbURL, redisURL, key
	}
	a := newEnv(t, shared)
	b := newEnv(t, shared)

	// A session from A works on B (shared signing keys), and A's logout is
	// refused by B within a second.
	access, _ := a.login("admin", adminPassword)
	b.must(200, b.do("GET", "/api/v1/auth/me", access, nil))
	a.must(204, a.do("POST", "/api/v1/auth/logout", access, nil))
	testutil.Eventually(t, time.Second, func() bool {
		return b.do("GET", "/api/v1/auth/me", access, nil).Status == http.StatusUnauthorized
	}, "B still accepts a token logged out on A")

	// An API key revoked on A is refused by B within a second, even though
	// B had it cached.
	admin := a.adminToken()
	k, id := a.createKey(admin, map[string]any{"name": "ci", "role": "viewer", "scopes": []string{"read"}, "rate_limit_per_minute": 10})
	b.must(200, b.do("GET", "/api/v1/auth/me", k, nil))
	a.must(204, a.do("DELETE", "/api/v1/apikeys/"+id, admin, nil))
	testutil.Eventually(t, time.Second, func() bool {
		return b.do("GET", "/api/v1/auth/me", k, nil).Status == http.StatusUnauthorized
	}, "B still accepts a key revoked on A")

	// The rate limit counts across both replicas: 10 per minute in total.
	k2, _ := a.createKey(admin, map[string]any{"name": "limited", "role": "viewer", "scopes": []string{"read"}, "rate_limit_per_minute": 10})
	// Start clear of a minute boundary so one window holds the whole burst.
	if s := time.Now().Second(); s > 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	ok, limited := 0, 0
	for i := range 14 {
		e := a
		if i%2 == 1 {
			e = b
		}
		switch r := e.do("GET", "/api/v1/auth/me", k2, nil); r.Status {
		case 200:
			ok++
		case 429:
			limited++
		default:
			t.Fatalf("unexpected %d: %s", r.Status, r.Body)
		}
	}
	if ok != 10 || limited != 4 {
		t.Fatalf("%d passed and %d limited across two replicas; want 10 and 4", ok, limited)
	}
}
