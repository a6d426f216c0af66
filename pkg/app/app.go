// Package app runs Phoenix services in one process: it opens the store and
// the bus, applies each service's migrations, starts each service and stops
// them all in reverse order on shutdown. `phoenix server` and every
// project's own binary use it, so both ways to run share one code path.
package app

import (
	"context"
	"embed"
	"errors"
	"fmt"
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

// migrations are the runner's own tables (phoenix_instances).
//
//go:embed migrations/*.sql
var migrations embed.FS

// App is a started set of services.
type App struct {
	Settings service.Settings
	Services []service.Service
	logger   *slog.Logger
	timeout  time.Duration
}

// Start opens shared resources and starts the services of regs that cfg
// names, in the order of regs (dependencies first: analytics before the
// gateway that routes to it). Each registration's settings are added to cfg
// with their defaults when cfg does not hold them yet. On error everything
// already started is stopped again.
func Start(ctx context.Context, cfg *config.Server, logger *slog.Logger, regs []service.Registration) (*App, error) {
	AddSections(cfg, regs)
	if err := validate(cfg, regs); err != nil {
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
			Config: cfg, Registered: Names(regs), Logger: logger, Store: store, Bus: bus, Metrics: telemetry.NewMetrics(),
			Version: version.Get(), Instance: service.InstanceID(),
		},
		logger:  logger,
		timeout: cfg.Shutdown.Timeout,
	}
	for _, reg := range regs {
		if !slices.Contains(cfg.Services, reg.Name) {
			continue
		}
		if reg.Migrations != nil {
			if _, err := store.Migrate(ctx, reg.Name, reg.Migrations); err != nil {
				a.stop(ctx)
				return nil, err
			}
		}
		s := a.Settings
		s.Logger = logger.With("service", reg.Name)
		svc, err := reg.New(s)
		if err != nil {
			a.stop(ctx)
			return nil, fmt.Errorf("create %s: %w", reg.Name, err)
		}
		if err := svc.Start(ctx); err != nil {
			a.stop(ctx)
			return nil, fmt.Errorf("start %s: %w", reg.Name, err)
		}
		a.Services = append(a.Services, svc)
		logger.Info("service started", "service", reg.Name)
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

// Names lists the registrations' names, in order.
func Names(regs []service.Registration) []string {
	names := make([]string, len(regs))
	for i, r := range regs {
		names[i] = r.Name
	}
	return names
}

// AddSections registers each registration's own settings on cfg, with their
// defaults, unless cfg holds them already.
func AddSections(cfg *config.Server, regs []service.Registration) {
	for _, r := range regs {
		if r.Config != nil && !cfg.HasSection(r.Name) {
			cfg.AddSection(r.Name, r.Config())
		}
	}
}

// validate checks cfg and that it names only services of regs, reporting
// every problem at once.
func validate(cfg *config.Server, regs []service.Registration) error {
	errs := []error{cfg.Validate()}
	if len(cfg.Services) == 0 {
		errs = append(errs, errors.New("services: at least one service is required"))
	}
	known := Names(regs)
	for _, s := range cfg.Services {
		if !slices.Contains(known, s) {
			errs = append(errs, fmt.Errorf("services: unknown service %q (known: %s)", s, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

// register applies the runner's own migration and records this instance.
func register(ctx context.Context, store *database.Store, cfg *config.Server) error {
	if _, err := store.Migrate(ctx, "core", migrations); err != nil {
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
