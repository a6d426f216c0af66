// Package app runs Phoenix services in one process: it opens the store and
// the bus, runs migrations through the services, starts each service and
// stops them all in reverse order on shutdown. `phoenix server` and every
// project's own binary use it, so both ways to run share one code path.
package app

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/version"
)

//go:embed migrations/*.sql
var migrations embed.FS

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
	if err := register(ctx, store, cfg); err != nil {
		bus.Close()
		store.Close()
		return nil, err
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
	if a.Settings.Store != nil {
		q := a.Settings.Store.Rebind("UPDATE phoenix_instances SET stopped_at = ? WHERE instance = ?")
		// Its own few seconds: the services may have used all of ctx.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := a.Settings.Store.DB.ExecContext(rctx, q, time.Now().UTC(), a.Settings.Instance)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("record instance stop: %w", err))
		}
	}
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

// register applies the runner's own migration and records this instance.
func register(ctx context.Context, store *database.Store, cfg *config.Server) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if _, err := store.Migrate(ctx, "core", sub); err != nil {
		return err
	}
	v := version.Get()
	q := store.Rebind(`INSERT INTO phoenix_instances (instance, services, version, started_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (instance) DO UPDATE SET services = excluded.services, version = excluded.version,
		started_at = excluded.started_at, stopped_at = NULL`)
	if _, err := store.DB.ExecContext(ctx, q, service.InstanceID(), strings.Join(cfg.Services, ","), v.Version, time.Now().UTC()); err != nil {
		return fmt.Errorf("record instance: %w", err)
	}
	return nil
}
