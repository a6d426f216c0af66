// Package app runs Phoenix services in one process: it opens the store and
// the bus, runs migrations through the services, starts each service and
// stops them all in reverse order on shutdown. `phoenix server` and every
// project's own binary use it, so both ways to run share one code path.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/version"
)

// App is a started set of services.
type App struct {
	Settings service.Settings
	Services []service.Service
	logger   *slog.Logger
	timeout  time.Duration
}

// Start opens shared resources and starts the configured services. On error
// everything already started is stopped again.
func Start(ctx context.Context, cfg *config.Server, logger *slog.Logger, factories map[string]service.Factory) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	store, err := database.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	bus, err := messaging.Connect(ctx, messaging.Settings{
		URL: cfg.NATSURL, DataDir: cfg.DataDir, Name: "phoenix " + service.InstanceID(), Logger: logger,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("messaging: %w", err)
	}
	a := &App{
		Settings: service.Settings{
			Config: cfg, Logger: logger, Store: store, Bus: bus, Metrics: telemetry.NewMetrics(),
			Version: version.Get(), Instance: service.InstanceID(),
		},
		logger:  logger,
		timeout: cfg.Shutdown.Timeout,
	}
	// Start in the canonical order so dependencies (analytics before the
	// gateway that routes to it) come up first.
	for _, name := range config.AllServices {
		if !slices.Contains(cfg.Services, name) {
			continue
		}
		f, ok := factories[name]
		if !ok {
			a.stop(ctx)
			return nil, fmt.Errorf("service %s is not built into this binary", name)
		}
		s := a.Settings
		s.Logger = logger.With("service", name)
		svc, err := f(s)
		if err != nil {
			a.stop(ctx)
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		if err := svc.Start(ctx); err != nil {
			a.stop(ctx)
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		a.Services = append(a.Services, svc)
		logger.Info("service started", "service", name)
	}
	return a, nil
}

// Service returns the running service with that name, or nil.
func (a *App) Service(name string) service.Service {
	for _, s := range a.Services {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// Stop shuts services down in reverse order, then the bus and the store,
// within the configured shutdown timeout.
func (a *App) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	return a.stop(ctx)
}

func (a *App) stop(ctx context.Context) error {
	var errs []error
	for i := len(a.Services) - 1; i >= 0; i-- {
		s := a.Services[i]
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.Name(), err))
		}
	}
	a.Services = nil
	if a.Settings.Bus != nil {
		a.Settings.Bus.Close()
	}
	if a.Settings.Store != nil {
		if err := a.Settings.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}
