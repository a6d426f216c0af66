// Package gateway is the platform-api HTTP front door: health and readiness,
// /metrics, the OpenAPI document, and /api/v1 routes answered by the services
// over NATS request/reply.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// statusTimeout bounds each service's status answer; a service slower than
// this is reported unreachable rather than stalling the whole status call.
const statusTimeout = time.Second

// Gateway is the platform-api service.
type Gateway struct {
	s      service.Settings
	logger *slog.Logger
	resp   *service.Responder
	srv    *httpx.Server
	once   sync.Once
}

// New builds the gateway; it listens on Start.
func New(s service.Settings) (*Gateway, error) {
	g := &Gateway{s: s, logger: s.Logger}
	g.resp = service.NewResponder(s, config.ServicePlatformAPI, nil)
	return g, nil
}

// Name is platform-api.
func (g *Gateway) Name() string { return config.ServicePlatformAPI }

// Handler returns the full HTTP handler (tests use it with httptest).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", g.s.Metrics.Handler())
	mux.HandleFunc("GET /api/v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.OpenAPI)
	})
	mux.HandleFunc("GET /api/v1/status", g.status)
	for _, rt := range routes() {
		mux.HandleFunc(rt.Method+" "+rt.Pattern, g.forward(rt))
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, problem.NotFound("no route %s %s", r.Method, r.URL.Path))
	})
	return httpx.Wrap(mux, httpx.Options{
		Logger: g.logger, Metrics: g.s.Metrics, MaxBodyBytes: g.s.Config.API.MaxBodyBytes,
		SkipLog: func(r *http.Request) bool {
			return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics"
		},
	})
}

// Start answers on NATS and opens the HTTP listener.
func (g *Gateway) Start(context.Context) error {
	if err := g.resp.Start(); err != nil {
		return err
	}
	srv, err := httpx.Listen(g.s.Config.API.Addr, g.Handler(), g.logger)
	if err != nil {
		_ = g.resp.Stop()
		return err
	}
	g.srv = srv
	srv.Start()
	g.logger.Info("api listening", "addr", srv.Addr())
	return nil
}

// Addr is the bound HTTP address.
func (g *Gateway) Addr() string { return g.srv.Addr() }

// Shutdown drains HTTP, then leaves the bus.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.once.Do(func() {
		if g.srv != nil {
			err = g.srv.Shutdown(ctx)
		}
		err = errors.Join(err, g.resp.Stop())
	})
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

// status lists every Phoenix service with its health as answered over NATS.
func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"services": g.collect(r.Context(), config.AllServices)})
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
