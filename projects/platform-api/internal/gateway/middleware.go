package gateway

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/authn"
)

// securityHeaders are set on every answer. The CSP allows only same-origin
// resources: the dashboard and docs page are self-contained.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers cross-origin requests only for configured origins. With none
// configured, browsers get no CORS headers and so may call the API only from
// its own origin (the embedded dashboard).
func cors(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		ok := origin != "" && slices.Contains(allowed, origin)
		// Answers differ by origin: caches must key on it.
		w.Header().Add("Vary", "Origin")
		if ok {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if ok {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			httpx.WriteError(w, r, problem.Forbidden("origin not allowed"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer address. X-Forwarded-For is not trusted: a client
// could set it to dodge per-address limits.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RFC 6750 challenges: every 401 names the scheme; error="invalid_token"
// when the request carried a token (expired, revoked, malformed).
const (
	bearerChallenge    = `Bearer realm="phoenix"`
	bearerInvalidToken = `Bearer realm="phoenix", error="invalid_token"`
)

// challengeWriter adds its challenge to a 401 that has none (RFC 9110
// §15.5.2: a 401 must carry WWW-Authenticate), e.g. a failed login.
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized && c.Header().Get("WWW-Authenticate") == "" {
		c.Header().Set("WWW-Authenticate", c.challenge)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// statusRecorder keeps the status for the audit log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// routeClass groups routes for rate limits.
func routeClass(method string) string {
	if mutating(method) {
		return "write"
	}
	return "read"
}

// guard wraps one route with authentication, authorization, rate limiting
// and auditing according to its OpenAPI policy.
func (g *Gateway) guard(pol policy, h http.Handler) http.Handler {
	params := paramNames(pol.Path)
	if pol.Role == rolePublic {
		unlimited := pol.Path == "/healthz" || pol.Path == "/readyz" || pol.Path == "/metrics"
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w = &challengeWriter{ResponseWriter: w, challenge: bearerChallenge}
			if !unlimited {
				if err := g.limiter.Allow(r.Context(), "ip:"+clientIP(r)+":public", g.s.Config.Auth.RateLimitRead); err != nil {
					httpx.WriteError(w, r, err)
					return
				}
			}
			if err := g.valid.validate(r.Context(), r, pol, params); err != nil {
				httpx.WriteError(w, r, err)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	class := routeClass(pol.Method)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := authn.Bearer(r)
		if token == "" && pol.Path == "/api/v1/ws" {
			// Browsers cannot set headers on a WebSocket handshake.
			token = r.URL.Query().Get("access_token")
		}
		res, err := g.authn.Authenticate(r.Context(), token)
		if err != nil {
			if problem.From(err).Status == http.StatusUnauthorized {
				// RFC 6750 §3.1: no error code when no credentials were sent.
				c := bearerChallenge
				if token != "" {
					c = bearerInvalidToken
				}
				w.Header().Set("WWW-Authenticate", c)
			}
			httpx.WriteError(w, r, err)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		if mutating(r.Method) {
			defer func() { g.audit.Record(r, res.Principal, pol.Method+" "+pol.Path, clientIP(r), rec.status) }()
		}
		if err := authorize(res.Principal, pol); err != nil {
			httpx.WriteError(rec, r, err)
			return
		}
		limit := g.s.Config.Auth.RateLimitWrite
		if class == "read" {
			limit = g.s.Config.Auth.RateLimitRead
		}
		if res.RateLimit > 0 {
			limit = res.RateLimit
		}
		if err := g.limiter.Allow(r.Context(), "p:"+res.Principal.Kind+":"+res.Principal.Subject+":"+class, limit); err != nil {
			httpx.WriteError(rec, r, err)
			return
		}
		if err := g.valid.validate(r.Context(), r, pol, params); err != nil {
			httpx.WriteError(rec, r, err)
			return
		}
		ctx := authn.WithResult(authn.WithPrincipal(r.Context(), res.Principal), res)
		h.ServeHTTP(rec, r.WithContext(ctx))
	})
}
