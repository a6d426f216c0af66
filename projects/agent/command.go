package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/telemetry"
)

// DefaultCollectorBin is $PHOENIX_COLLECTOR_BIN, else phoenix-collector
// beside the running executable.
func DefaultCollectorBin() string {
	if b := os.Getenv("PHOENIX_COLLECTOR_BIN"); b != "" {
		return b
	}
	exe, err := os.Executable()
	if err != nil {
		return "phoenix-collector"
	}
	return filepath.Join(filepath.Dir(exe), "phoenix-collector")
}

// NewCommand returns `agent` with its `run` subcommand, for binaries whose
// CLI has no `agent` command of its own.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Run or inspect Phoenix agents"}
	cmd.AddCommand(NewRunCommand())
	return cmd
}

// NewRunCommand returns `run`: the agent daemon, until SIGINT or SIGTERM.
func NewRunCommand() *cobra.Command {
	var (
		set       Settings
		labels    []string
		logLevel  string
		tokenFile string
	)
	home, _ := os.UserHomeDir()
	cmd := &cobra.Command{
		Use:           "run",
		Short:         "Run the agent: supervise a phoenix-collector and take its config from the control plane over OpAMP",
		Example:       "  phoenix agent run --server ws://phoenix:4320/v1/opamp --label env=prod --token $PHOENIX_AGENT_TOKEN",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if set.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				set.Token = strings.TrimSpace(string(b))
			}
			if set.Token == "" {
				set.Token = os.Getenv("PHOENIX_AGENT_TOKEN")
			}
			set.Logger = telemetry.NewLogger(os.Stderr, "text", logLevel)
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			a, err := New(set)
			if err != nil {
				return err
			}
			if err := a.Start(ctx); err != nil {
				return err
			}
			set.Logger.Info("agent started", "agent_id", a.ID(), "server", set.ServerURL, "collector_bin", set.CollectorBin)
			<-ctx.Done()
			set.Logger.Info("agent stopping")
			sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer scancel()
			return a.Stop(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&set.ServerURL, "server", "ws://localhost:4320/v1/opamp", "OpAMP server URL of the control plane")
	f.StringVar(&set.CollectorBin, "collector-bin", DefaultCollectorBin(), "phoenix-collector executable (env PHOENIX_COLLECTOR_BIN)")
	f.StringArrayVar(&labels, "label", nil, "label k=v reported to the control plane (repeatable); team=T picks the agent's team")
	f.StringVar(&set.Token, "token", "", "API key with scopes agent,ingest (OpAMP and the collector's exports to Phoenix ingest); visible in the process list, prefer --token-file or env PHOENIX_AGENT_TOKEN; not needed for open (dev) servers")
	f.StringVar(&tokenFile, "token-file", "", "file holding the API key with scopes agent,ingest")
	f.StringVar(&set.DataDir, "data-dir", filepath.Join(home, ".phoenix", "agent"), "directory for the instance id and configs")
	f.DurationVar(&set.HealthTimeout, "health-timeout", 30*time.Second, "how long a new config has to become healthy")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func parseLabels(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range in {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want key=value", l)
		}
		out[k] = v
	}
	return out, nil
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
