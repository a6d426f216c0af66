// Package gateway is the platform-api HTTP front door: health and readiness,
// /metrics, the OpenAPI document and docs, authentication (users, JWTs, API
// keys), RBAC from the OpenAPI document, rate limits, the audit log, the
// WebSocket event relay, and /api/v1 routes answered by the services over
// NATS request/reply.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/secrets"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/audit"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/authn"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/events"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/ratelimit"
)

// statusTimeout bounds each service's status answer; a service slower than
// this is reported unreachable rather than stalling the whole status call.
const statusTimeout = time.Second

// maxConcurrentHashes bounds argon2id work (19 MiB each) across logins and
// user writes.
const maxConcurrentHashes = 4

// Gateway is the platform-api service.
type Gateway struct {
	s        service.Settings
	logger   *slog.Logger
	resp     *service.Responder
	srv      *httpx.Server
	once     sync.Once
	policies map[string]policy
	routes   []registered
	handler  http.Handler
	docs     []byte
	metrics  gwMetrics
	hashSem  chan struct{}
	valid    *specValidator
	spec     []byte // api/openapi.yaml: the route table, served as is

	// The dashboard (WithUI); nil serves none.
	uiFS          fs.FS
	uiBuilt       bool
	uiPlaceholder string
	ui            *uiHandler

	// Set by Start.
	store         *identity.Store
	authn         *authn.Authenticator
	shared        ratelimit.State
	limiter       *ratelimit.Limiter
	loginThrottle *ratelimit.LoginThrottle
	audit         *audit.Log
	hub           *events.Hub
	jan           *janitor
}

// registered is one route the mux serves, with its policy.
type registered struct {
	Method, Pattern string
	Policy          policy
	Forward         *Route           // nil for the gateway's own handlers
	Handler         http.HandlerFunc // the gateway's own handler, nil when forwarded
}

type gwMetrics struct {
	rateLimited, limiterErrors, loginFailures, loginThrottled, auditFailures, wsDropped prometheus.Counter
	wsClients                                                                           prometheus.Gauge
}

func newGWMetrics(reg *prometheus.Registry) gwMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "phoenix", Subsystem: "gateway", Name: name, Help: help})
	}
	m := gwMetrics{
		rateLimited:    c("rate_limited_total", "Requests answered 429 by the per-principal rate limits."),
		limiterErrors:  c("rate_limiter_errors_total", "Requests let through because the shared limiter failed."),
		loginFailures:  c("login_failures_total", "Failed logins."),
		loginThrottled: c("login_throttled_total", "Logins refused by failed-login throttling."),
		auditFailures:  c("audit_write_failures_total", "Audit batches that could not be written."),
		wsDropped:      c("websocket_slow_clients_dropped_total", "WebSocket clients dropped because their send queue was full."),
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "phoenix", Subsystem: "gateway", Name: "websocket_clients",
			Help: "Connected WebSocket clients."}),
	}
	if reg != nil {
		reg.MustRegister(m.rateLimited, m.limiterErrors, m.loginFailures, m.loginThrottled, m.auditFailures, m.wsDropped, m.wsClients)
	}
	return m
}

// New builds the gateway and its router from api/openapi.yaml: every
// operation there is routed (to the gateway's own handler or forwarded to
// its x-phoenix-service) with its x-phoenix-role, and every handler of the
// gateway's own must be in it: a mismatch fails here, at start-up.
func New(s service.Settings) (*Gateway, error) { return newGateway(s, api.OpenAPI) }

// NewWith is New with options (WithUI).
func NewWith(s service.Settings, opts ...Option) (*Gateway, error) {
	return newGateway(s, api.OpenAPI, opts...)
}

// newGateway builds the gateway from spec; tests pass a spec with extra
// operations to show that a new endpoint needs no gateway code.
func newGateway(s service.Settings, spec []byte, opts ...Option) (*Gateway, error) {
	pols, err := specOps(spec)
	if err != nil {
		return nil, err
	}
	g := &Gateway{s: s, logger: s.Logger, policies: pols, spec: spec, hashSem: make(chan struct{}, maxConcurrentHashes)}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	var reg *prometheus.Registry
	if s.Metrics != nil {
		reg = s.Metrics.Registry
	}
	g.metrics = newGWMetrics(reg)
	for _, o := range opts {
		o(g)
	}
	if g.uiFS != nil {
		if g.ui, err = newUIHandler(g.uiFS, g.uiBuilt, g.uiPlaceholder); err != nil {
			return nil, err
		}
	}
	if g.docs, err = renderDocs(spec); err != nil {
		return nil, err
	}
	if g.valid, err = newSpecValidator(spec); err != nil {
		return nil, err
	}
	if err := g.buildRoutes(); err != nil {
		return nil, err
	}
	g.handler = g.buildHandler()
	g.resp = service.NewResponder(s, config.ServicePlatformAPI, nil, g.authenticateEndpoint())
	return g, nil
}

// builtins are the operations the gateway answers itself (x-phoenix-service:
// platform-api), keyed by operationId; method and path come from the spec.
func (g *Gateway) builtins() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"healthz": g.healthz,
		"readyz":  g.readyz,
		"metrics": g.metricsHandler,
		"getOpenAPI": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(g.spec)
		},
		"getDocs":          g.serveDocs,
		"getStatus":        g.status,
		"login":            g.login,
		"refreshToken":     g.refresh,
		"logout":           g.logout,
		"whoAmI":           g.me,
		"changePassword":   g.changePassword,
		"rotateSigningKey": g.rotateKeys,
		"listUsers":        g.listUsers,
		"createUser":       g.createUser,
		"getUser":          g.getUser,
		"updateUser":       g.updateUser,
		"deleteUser":       g.deleteUser,
		"listTeams":        g.listTeams,
		"createTeam":       g.createTeam,
		"getTeam":          g.getTeam,
		"deleteTeam":       g.deleteTeam,
		"addTeamMember":    g.addMember,
		"removeTeamMember": g.removeMember,
		"listAPIKeys":      g.listAPIKeys,
		"createAPIKey":     g.createAPIKey,
		"getAPIKey":        g.getAPIKey,
		"revokeAPIKey":     g.revokeAPIKey,
		"listAudit":        g.listAudit,
		"events":           g.serveWS,
	}
}

func (g *Gateway) metricsHandler(w http.ResponseWriter, r *http.Request) {
	if g.s.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	g.s.Metrics.Handler().ServeHTTP(w, r)
}

// buildRoutes routes every operation of the spec: the gateway's own to its
// handler, the others forwarded to apiv1.Subject(service, operationId). A
// gateway operation without a handler, or a handler without an operation,
// is an error.
func (g *Gateway) buildRoutes() error {
	var errs []string
	own := g.builtins()
	used := map[string]bool{}
	keys := make([]string, 0, len(g.policies))
	for key := range g.policies {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		pol := g.policies[key]
		rt := registered{Method: pol.Method, Pattern: pol.Path, Policy: pol}
		if pol.Service == apiv1.Gateway {
			h, ok := own[pol.OperationID]
			if !ok {
				errs = append(errs, "operation "+pol.OperationID+" ("+key+") in api/openapi.yaml has no handler in the gateway")
				continue
			}
			used[pol.OperationID] = true
			rt.Handler = h
		} else {
			fw := forwardedRoute(apiv1.Operation{Method: pol.Method, Path: pol.Path, OperationID: pol.OperationID, Service: pol.Service})
			rt.Forward = &fw
		}
		g.routes = append(g.routes, rt)
	}
	for id := range own {
		if !used[id] {
			errs = append(errs, "gateway handler "+id+" is not an operation of "+apiv1.Gateway+" in api/openapi.yaml")
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("routes and api/openapi.yaml disagree:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func (g *Gateway) buildHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range g.routes {
		var h http.Handler = rt.Handler
		if rt.Forward != nil {
			h = g.forward(*rt.Forward)
		}
		mux.Handle(rt.Method+" "+rt.Pattern, g.guard(rt.Policy, h))
	}
	// Unknown /api/ paths need credentials too, so the 404 tells an
	// anonymous caller nothing.
	mux.Handle("/api/", g.guard(policy{Method: "GET", Path: "/api/", Role: roleViewer, Scope: auth.ScopeRead},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpx.WriteError(w, r, problem.NotFound("no route %s %s", r.Method, r.URL.Path))
		})))
	if g.ui != nil {
		// The dashboard is the fallback for every other path: the spec's
		// routes and /api/ are more specific patterns, so they win.
		mux.Handle("/", g.ui)
	}
	return httpx.Wrap(securityHeaders(cors(g.s.Config.Auth.AllowedOrigins, mux)), httpx.Options{
		Logger: g.logger, Metrics: g.s.Metrics, MaxBodyBytes: g.s.Config.API.MaxBodyBytes,
		SkipLog: func(r *http.Request) bool {
			return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics"
		},
	})
}

// Name is platform-api.
func (g *Gateway) Name() string { return config.ServicePlatformAPI }

// Handler returns the full HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Start migrates the gateway's tables, prepares authentication (signing
// keys, the bootstrap admin), answers on NATS and opens the HTTP listener.
func (g *Gateway) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			g.cleanup(context.Background())
		}
	}()
	cfg := g.s.Config
	if g.store, err = identity.Open(ctx, g.s.Store); err != nil {
		return err
	}
	sealer, err := secrets.SealerFromConfig(cfg)
	if err != nil {
		return err
	}
	if cfg.RedisURL != "" {
		if g.shared, err = ratelimit.NewRedis(ctx, cfg.RedisURL); err != nil {
			return err
		}
	} else {
		g.shared = ratelimit.NewMemory()
	}
	g.limiter = &ratelimit.Limiter{State: g.shared, Logger: g.logger, Limited: g.metrics.rateLimited.Inc, Failed: g.metrics.limiterErrors.Inc}
	g.loginThrottle = &ratelimit.LoginThrottle{State: g.shared, Limit: cfg.Auth.RateLimitLogin}
	spec := auth.TokenSpec{Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience, TTL: cfg.Auth.AccessTokenTTL}
	if g.authn, err = authn.New(ctx, g.store, g.shared, sealer, spec, g.logger); err != nil {
		return err
	}
	if err := g.bootstrapAdmin(ctx); err != nil {
		return err
	}
	if err := g.bootstrapTeam(ctx); err != nil {
		return err
	}
	g.audit = audit.New(g.store, g.logger, g.metrics.auditFailures.Inc)
	g.jan = g.startJanitor()
	g.hub, err = events.NewHub(g.s.Bus.Conn, events.Settings{
		Metrics:   events.Metrics{Dropped: g.metrics.wsDropped, Clients: g.metrics.wsClients},
		Authorize: g.authorizeTopic, AllowedOrigins: cfg.Auth.AllowedOrigins,
	})
	if err != nil {
		return err
	}
	if err := g.resp.Start(); err != nil {
		return err
	}
	srv, err := httpx.Listen(cfg.API.Addr, g.handler, g.logger)
	if err != nil {
		return err
	}
	g.srv = srv
	srv.Start()
	g.logger.Info("api listening", "addr", srv.Addr(), "shared_state", map[bool]string{true: "redis", false: "memory"}[cfg.RedisURL != ""])
	return nil
}

// bootstrapAdmin creates the user admin on first start.
func (g *Gateway) bootstrapAdmin(ctx context.Context) error {
	n, err := g.store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	password := g.s.Config.Auth.BootstrapAdminPassword
	generated := password == ""
	if generated {
		if password, err = auth.RandomToken(24); err != nil {
			return err
		}
	} else if msg := auth.CheckPasswordPolicy(password); msg != "" {
		return fmt.Errorf("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD: %s", msg)
	}
	hash, err := auth.HashPassword(password, auth.DefaultArgon2)
	if err != nil {
		return err
	}
	if err := g.store.CreateUser(ctx, identity.User{Username: "admin", PasswordHash: hash, Role: roleAdmin}); err != nil {
		if errors.Is(err, database.ErrConflict) {
			return nil // another replica bootstrapped first
		}
		return fmt.Errorf("create bootstrap admin: %w", err)
	}
	if generated {
		// Printed once: it is not stored anywhere in clear.
		g.logger.Warn("created the bootstrap admin with a random password; log in and change it",
			"username", "admin", "password", password)
	} else {
		g.logger.Info("created the bootstrap admin from PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", "username", "admin")
	}
	return nil
}

// bootstrapTeam creates the default team, the admin its member, when no
// team exists: API keys act for teams, and a fresh server must be able to
// issue one without a detour (issue 13).
func (g *Gateway) bootstrapTeam(ctx context.Context) error {
	ts, err := g.store.ListTeams(ctx, nil, "", 1)
	if err != nil {
		return fmt.Errorf("list teams: %w", err)
	}
	if len(ts) > 0 {
		return nil
	}
	if err := g.store.CreateTeam(ctx, apiv1.DefaultTeam); err != nil && !errors.Is(err, database.ErrConflict) {
		return fmt.Errorf("create the default team: %w", err)
	}
	// The admin may have been renamed away; the team is still useful.
	if err := g.store.AddMember(ctx, apiv1.DefaultTeam, "admin"); err != nil && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("add admin to the default team: %w", err)
	}
	g.logger.Info("created the default team", "team", apiv1.DefaultTeam)
	return nil
}

// Addr is the bound HTTP address.
func (g *Gateway) Addr() string { return g.srv.Addr() }

// Shutdown drains HTTP and WebSockets, then leaves the bus and flushes the
// audit log.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.once.Do(func() { err = g.cleanup(ctx) })
	return err
}

func (g *Gateway) cleanup(ctx context.Context) error {
	var err error
	if g.hub != nil {
		g.hub.Close()
	}
	if g.srv != nil {
		err = g.srv.Shutdown(ctx)
	}
	err = errors.Join(err, g.resp.Stop())
	if g.audit != nil {
		g.audit.Close()
	}
	if g.jan != nil {
		g.jan.stop()
	}
	if g.shared != nil {
		err = errors.Join(err, g.shared.Close())
	}
	return err
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyz is 200 only when the store and NATS answer and every service this
// process runs answered its status request.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := []check{probe("database", g.s.Store.Ping(ctx)), probe("nats", g.s.Bus.Ping(ctx))}
	for _, st := range g.collect(ctx, g.s.Config.Services) {
		c := check{Name: "service:" + st.Name, OK: st.Health != service.HealthUnreachable}
		if !c.OK {
			c.Error = "no answer over NATS"
		}
		checks = append(checks, c)
	}
	code := http.StatusOK
	for _, c := range checks {
		if !c.OK {
			code = http.StatusServiceUnavailable
		}
	}
	httpx.WriteJSON(w, code, map[string]any{"ready": code == http.StatusOK, "checks": checks})
}

func probe(name string, err error) check {
	if err != nil {
		return check{Name: name, Error: err.Error()}
	}
	return check{Name: name, OK: true}
}

// status lists every service registered in this binary with its health as
// answered over NATS.
func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, apiv1.StatusReport{Services: g.collect(r.Context(), g.s.Registered)})
}

// collect asks each named service for its status in parallel.
func (g *Gateway) collect(ctx context.Context, names []string) []service.Status {
	out := make([]service.Status, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			var st service.Status
			if err := g.s.Bus.Request(cctx, service.StatusSubject(name), nil, &st); err != nil {
				g.logger.Debug("service status failed", "target_service", name, "error", err)
				out[i] = service.Status{Name: name, Health: service.HealthUnreachable, Detail: fmt.Sprint(err)}
				return
			}
			out[i] = st
		})
	}
	wg.Wait()
	return out
}
