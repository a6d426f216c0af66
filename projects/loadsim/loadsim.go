// Package loadsim is the load simulator service: it runs synthetic fleets of
// hosts (pkg/loadgen, shaped like the hostmetrics process scraper plus
// resourcedetection) against allowed OTLP targets, on request over NATS
// (POST/GET/DELETE /api/v1/loadsim through the gateway). Simulations are
// bounded in number, size and duration, owned by the caller's team, and
// stopped when the service shuts down.
package loadsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/loadsim/internal/manager"
)

// Service is the loadsim service.
type Service struct {
	resp *service.Responder
	m    *manager.Manager
	once sync.Once
}

// Registration is how a runner runs loadsim: its settings (the loadsim
// section); it keeps no tables.
func Registration() service.Registration {
	return service.Registration{
		Name:   config.ServiceLoadsim,
		New:    New,
		Config: func() config.Section { c := DefaultConfig(); return &c },
	}
}

// New builds the loadsim service.
func New(s service.Settings) (service.Service, error) {
	allowed, err := AllowedTargets(s.Config)
	if err != nil {
		return nil, err
	}
	lc := ConfigFrom(s.Config)
	ms := manager.Settings{
		Allowed: allowed, MaxConcurrent: lc.MaxConcurrent, MaxDuration: lc.MaxDuration,
		MaxProcesses: lc.MaxProcesses, Logger: s.Logger,
	}
	if s.Metrics != nil {
		ms.Registerer = s.Metrics.Registry
	}
	return newService(s, ms), nil
}

func newService(s service.Settings, ms manager.Settings) *Service {
	svc := &Service{m: manager.New(ms)}
	health := func(context.Context) (string, string) {
		return service.HealthOK, fmt.Sprintf("%d simulations running", svc.m.Running())
	}
	svc.resp = service.NewResponder(s, config.ServiceLoadsim, health, svc.Operations().Endpoints(config.ServiceLoadsim)...)
	return svc
}

// AllowedTargets expands the config's allowlist into target keys: "self" is
// this Phoenix's OTLP ingest on loopback and the --dev collector's ports.
func AllowedTargets(c *config.Server) ([]string, error) {
	var keys []string
	add := func(raw, protocol string) error {
		t, err := loadgen.ParseTarget(raw, protocol)
		if err != nil {
			return err
		}
		keys = append(keys, t.Key())
		return nil
	}
	var errs []error
	for _, a := range ConfigFrom(c).AllowedTargets {
		if a != Self {
			if err := add(a, ""); err != nil {
				errs = append(errs, fmt.Errorf("loadsim.allowed_targets: %w", err))
			}
			continue
		}
		for _, addr := range []struct{ addr, protocol string }{
			{c.Analytics.OTLPHTTPAddr, loadgen.ProtocolHTTP}, {c.Analytics.OTLPGRPCAddr, loadgen.ProtocolGRPC},
			{c.Controller.DevOTLPHTTPAddr, loadgen.ProtocolHTTP}, {c.Controller.DevOTLPGRPCAddr, loadgen.ProtocolGRPC},
		} {
			if port := portOf(addr.addr); port != "" {
				for _, host := range []string{"127.0.0.1", "[::1]"} {
					if err := add(host+":"+port, addr.protocol); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	return keys, errors.Join(errs...)
}

// portOf returns a listen address's port ("" when there is none).
func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 {
		return ""
	}
	return port
}

// Name is loadsim.
func (s *Service) Name() string { return config.ServiceLoadsim }

// Start joins the bus.
func (s *Service) Start(context.Context) error { return s.resp.Start() }

// Shutdown leaves the bus and stops every simulation; idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = errors.Join(s.resp.Stop(), s.m.Shutdown(ctx))
	})
	return err
}
