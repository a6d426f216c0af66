package app

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/version"
)

// ServerOptions configures a server command.
type ServerOptions struct {
	Use   string
	Short string
	// Services are the services this binary can run, in start order; all of
	// them run by default (--services picks a subset).
	Services []service.Registration
	// Pinned runs every one of Services whatever services the config names
	// (a project's own binary, which may share a config file with others).
	Pinned bool
	// AfterStart runs once every service is up (e.g. the --dev fleet). The
	// returned stop function runs first on shutdown.
	AfterStart func(ctx context.Context, a *App) (stop func(), err error)
}

// NewServerCommand returns a cobra command that loads config from defaults,
// --config FILE, PHOENIX_* and flags, starts the services and runs until
// SIGINT or SIGTERM, then shuts down gracefully.
func NewServerCommand(o ServerOptions) *cobra.Command {
	cfg := config.DefaultServer()
	if d := os.Getenv("PHOENIX_DATA_DIR"); d != "" {
		cfg.DataDir = d
	}
	cfg.Services = Names(o.Services)
	// Sections before Bind: their flags and defaults show in --help.
	AddSections(&cfg, o.Services)
	var file string
	cmd := &cobra.Command{
		Use:           o.Use,
		Short:         o.Short,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (env PHOENIX_CONFIG)")
	binder := config.Bind(cmd.Flags(), &cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if file == "" {
			file = os.Getenv("PHOENIX_CONFIG")
		}
		if err := binder.Load(file); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		if o.Pinned {
			cfg.Services = Names(o.Services)
		}
		if err := validate(&cfg, o.Services); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level)
		ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer cancel()
		stopTracing, err := telemetry.SetupTracing(ctx, cfg.TracesEndpoint, "phoenix", version.Get().Version)
		if err != nil {
			return err
		}
		defer func() { _ = stopTracing(context.Background()) }()
		a, err := Start(ctx, &cfg, logger, o.Services)
		if err != nil {
			return err
		}
		logger.Info("phoenix started", "services", cfg.Services, "version", a.Settings.Version.Version,
			"database", string(a.Settings.Store.Dialect), "nats_embedded", a.Settings.Bus.Embedded())
		var stopExtra func()
		if o.AfterStart != nil {
			if stopExtra, err = o.AfterStart(ctx, a); err != nil {
				_ = a.Stop()
				return err
			}
		}
		<-ctx.Done()
		logger.Info("shutting down")
		if stopExtra != nil {
			stopExtra()
		}
		if err := a.Stop(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		logger.Info("stopped")
		return nil
	}
	return cmd
}

// Main runs one project's service as its own binary; only main calls
// os.Exit. The binary knows the shared settings and this project's own.
func Main(reg service.Registration) int {
	cmd := NewServerCommand(ServerOptions{
		Use: reg.Name, Short: "Run the Phoenix " + reg.Name + " service",
		Services: []service.Registration{reg}, Pinned: true,
	})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}
