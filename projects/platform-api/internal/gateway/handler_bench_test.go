package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGatewayRead is the gateway's own cost for an authenticated read
// (API key, RBAC, rate limit, spec validation, handler), without the network.
func BenchmarkGatewayRead(b *testing.B) {
	for _, path := range []string{"/api/v1/auth/me", "/api/v1/status"} {
		b.Run(path, func(b *testing.B) {
			e := newEnv(b)
			key, _ := e.createKey(e.adminToken(), map[string]any{"name": "bench", "role": "viewer", "scopes": []string{"read"}, "rate_limit_per_minute": 1_000_000})
			h := e.gw.Handler()
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", path, nil)
				r.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
