package phoenixcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, agentCmd) }

// agentCmd is `phoenix agent`: the client commands. The composition root
// adds `agent run` (the daemon, projects/agent) under it.
func agentCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "agent",
		Short: "Inspect and configure the fleet's agents (and run one with `agent run`)",
	}
	c.AddCommand(agentListCmd(g), agentGetCmd(g), agentHistoryCmd(g), agentPushCmd(g))
	return c
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "-"
	}
	return h
}

func healthCell(a apiv1.Agent) string {
	switch {
	case a.Healthy == nil:
		return "unknown"
	case *a.Healthy:
		return "healthy"
	default:
		return "unhealthy (" + a.HealthStatus + ")"
	}
}

func pageQuery(limit int, cursor string) string {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func agentListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List agents: connection, health and the config they run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.Agent]
			if err := g.Client().Do(ctx, "GET", "/api/v1/agents"+pageQuery(limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "HOST", "TEAM", "CONNECTED", "HEALTH", "CONFIG", "REMOTE CONFIG", "LAST SEEN")
				for _, a := range out.Items {
					output.Row(tw, a.ID, a.Hostname, a.Team, a.Connected, healthCell(a), short(a.EffectiveConfigHash),
						orDash(a.RemoteConfigStatus), a.LastSeen.Format(time.RFC3339))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this agent id")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func agentGetCmd(g *Globals) *cobra.Command {
	var showConfig bool
	c := &cobra.Command{
		Use:   "get ID",
		Short: "Show one agent, with its effective config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var a apiv1.Agent
			if err := g.Client().Do(ctx, "GET", "/api/v1/agents/"+url.PathEscape(args[0]), nil, &a); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, a, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", a.ID)
				output.Row(tw, "HOST", a.Hostname)
				output.Row(tw, "TEAM", a.Team)
				output.Row(tw, "VERSION", orDash(a.AgentVersion))
				output.Row(tw, "LABELS", labelsCell(a.Labels))
				output.Row(tw, "CONNECTED", a.Connected)
				output.Row(tw, "LAST SEEN", a.LastSeen.Format(time.RFC3339))
				output.Row(tw, "HEALTH", healthCell(a))
				if a.LastError != "" {
					output.Row(tw, "LAST ERROR", a.LastError)
				}
				output.Row(tw, "EFFECTIVE CONFIG", orDash(a.EffectiveConfigHash))
				output.Row(tw, "REMOTE CONFIG", orDash(a.RemoteConfigStatus)+" "+short(a.RemoteConfigHash))
				if a.RemoteConfigError != "" {
					output.Row(tw, "REMOTE CONFIG ERROR", a.RemoteConfigError)
				}
				if a.PipelineID != "" {
					output.Row(tw, "PIPELINE", fmt.Sprintf("%s v%d", a.PipelineID, a.PipelineVersion))
				}
				output.Row(tw, "DEPLOYMENT", orDash(a.DeploymentID))
				if showConfig {
					fmt.Fprintf(tw, "\n%s", a.EffectiveConfig)
				}
			})
		},
	}
	c.Flags().BoolVar(&showConfig, "show-config", false, "print the effective config (table output)")
	return c
}

func labelsCell(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func agentHistoryCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "history ID",
		Short: "Deployments pushed to an agent, newest first: who, when, why, and the outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.Deployment]
			path := "/api/v1/agents/" + url.PathEscape(args[0]) + "/history" + pageQuery(limit, cursor)
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "DEPLOYMENT", "WHEN", "WHO", "KIND", "SOURCE", "CONFIG", "STATUS", "REASON", "ERROR")
				for _, d := range out.Items {
					src := "-"
					switch {
					case d.PipelineID != "":
						src = fmt.Sprintf("%s v%d", d.PipelineID, d.PipelineVersion)
					case d.RollbackOf != "":
						src = d.RollbackOf
					}
					output.Row(tw, d.ID, d.CreatedAt.Format(time.RFC3339), d.CreatedBy, d.Kind, src, short(d.ConfigHash),
						d.Status, orDash(d.Reason), orDash(d.Error))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue before this deployment id")
	return c
}

// agentPushCmd is `phoenix agent push`: deploy a pipeline version, roll back
// to an earlier deployment, or (admins) push a raw config file.
func agentPushCmd(g *Globals) *cobra.Command {
	var (
		pipeline   string
		version    int
		configFile string
		rollbackTo string
		reason     string
	)
	c := &cobra.Command{
		Use:   "push ID",
		Short: "Deploy a pipeline version (--pipeline), roll back (--rollback-to) or push a raw config (--config-file, admins)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := apiv1.PushConfigRequest{Reason: reason}
			n := 0
			if pipeline != "" {
				body.PipelineID, body.Version = pipeline, version
				n++
			}
			if rollbackTo != "" {
				body.RollbackTo = rollbackTo
				n++
			}
			if configFile != "" {
				raw, err := os.ReadFile(configFile)
				if err != nil {
					return fmt.Errorf("--config-file: %w", err)
				}
				body.Config = string(raw)
				n++
			}
			if n != 1 {
				return errors.New("give exactly one of --pipeline, --rollback-to or --config-file")
			}
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var d apiv1.PushConfigResult
			if err := g.Client().Do(ctx, "POST", "/api/v1/agents/"+url.PathEscape(args[0])+"/config", bytes.NewReader(b), &d); err != nil {
				return err
			}
			if d.Deployment == nil {
				return errors.New("the API answered the push without a deployment")
			}
			return output.Render(cmd.OutOrStdout(), g.Output, d, func(tw *tabwriter.Writer) {
				delivered := "queued until the agent reconnects"
				if d.Delivered {
					delivered = "sent to the agent"
				}
				output.Row(tw, "DEPLOYMENT", d.ID)
				output.Row(tw, "CONFIG", d.ConfigHash)
				output.Row(tw, "STATUS", d.Status+", "+delivered)
				fmt.Fprintf(tw, "follow with: phoenix agent history %s\n", args[0])
			})
		},
	}
	f := c.Flags()
	f.StringVar(&pipeline, "pipeline", "", "pipeline id (stored by the generator)")
	f.IntVar(&version, "version", 0, "pipeline version (0: latest)")
	f.StringVar(&rollbackTo, "rollback-to", "", "deployment id to push again")
	f.StringVar(&configFile, "config-file", "", "raw collector YAML (admins; validated by the agent)")
	f.StringVar(&reason, "reason", "", "why (recorded in the history)")
	return c
}
