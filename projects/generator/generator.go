// Package generator is the generator service: pipeline templates and
// generation (pkg/pipelinegen), validation by the real phoenix-collector,
// team-owned pipelines with immutable versions, and usage-aware
// recommendations priced by analytics.
package generator

import (
	"context"
	"fmt"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/server"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/store"
)

// Service is the generator.
type Service struct {
	s      service.Settings
	srv    *server.Server
	resp   *service.Responder
	valid  *pipelinegen.Validator
	loaded bool
}

// Registration is how a runner runs the generator: its settings (the
// generator section) and its pipeline tables.
func Registration() service.Registration {
	return service.Registration{
		Name:       config.ServiceGenerator,
		New:        New,
		Config:     func() config.Section { c := DefaultConfig(); return &c },
		Migrations: store.Migrations(),
	}
}

// New builds the generator service; the store is opened on Start.
func New(s service.Settings) (service.Service, error) {
	bin := ""
	if s.Config != nil {
		bin = ConfigFrom(s.Config).CollectorBin
	}
	v := pipelinegen.NewValidator(bin)
	// Configs come from API callers: ${env:...} must not expand to this
	// server's environment (its secrets) inside the collector's messages.
	v.Env = []string{}
	g := &Service{s: s, valid: v}
	g.srv = &server.Server{Bus: s.Bus, Validator: v, Analytics: server.BusAnalytics{Bus: s.Bus}, Logger: s.Logger}
	g.resp = service.NewResponder(s, config.ServiceGenerator, g.health, g.srv.Endpoints()...)
	return g, nil
}

// Name is generator.
func (g *Service) Name() string { return config.ServiceGenerator }

// Start migrates the pipeline tables and joins the bus.
func (g *Service) Start(ctx context.Context) error {
	if !g.loaded {
		st, err := store.New(ctx, g.s.Store)
		if err != nil {
			return fmt.Errorf("generator store: %w", err)
		}
		g.srv.Store = st
		g.loaded = true
	}
	if ok, why := g.valid.Available(); !ok {
		g.s.Logger.Warn("configs cannot be validated until the collector binary is found", "reason", why)
	}
	return g.resp.Start()
}

// Shutdown leaves the bus; idempotent.
func (g *Service) Shutdown(context.Context) error { return g.resp.Stop() }

// health is degraded while configs cannot be validated.
func (g *Service) health(context.Context) (string, string) {
	if ok, why := g.valid.Available(); !ok {
		return service.HealthDegraded, why
	}
	return service.HealthOK, ""
}
