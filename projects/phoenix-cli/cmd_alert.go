package phoenixcli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, alertCmd) }

// alertCmd is `phoenix alert`: the anomaly detector's alerts.
func alertCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "alert",
		Short: "List, inspect, acknowledge and resolve alerts (cardinality explosions, anomalies)",
	}
	c.AddCommand(alertListCmd(g), alertGetCmd(g),
		alertActionCmd(g, "ack", "Acknowledge a firing alert", "ack"),
		alertActionCmd(g, "resolve", "Resolve an alert", "resolve"),
		alertDeliveriesCmd(g))
	return c
}

func alertListCmd(g *Globals) *cobra.Command {
	var (
		state, stream, cursor string
		limit                 int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List alerts of your teams, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{}
			for k, v := range map[string]string{"state": state, "stream": stream, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			path := "/api/v1/alerts"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var out apiv1.List[apiv1.Alert]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "STATE", "SEVERITY", "RULE", "STREAM", "STARTED", "SUMMARY")
				for _, a := range out.Items {
					output.Row(tw, a.ID, a.State, a.Severity, a.Rule, a.Stream, a.StartedAt.Format(time.RFC3339), a.Summary)
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().StringVar(&state, "state", "", "only alerts in this state: firing, acknowledged or resolved")
	c.Flags().StringVar(&stream, "stream", "", "only alerts of this stream")
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this alert id")
	return c
}

func alertGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one alert",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return alertDo(cmd, g, "GET", "/api/v1/alerts/"+url.PathEscape(args[0]))
		},
	}
}

// alertActionCmd is `alert ack ID` or `alert resolve ID`: POST
// /api/v1/alerts/{id}/<action>, printing the alert after it.
func alertActionCmd(g *Globals, use, short, action string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return alertDo(cmd, g, "POST", "/api/v1/alerts/"+url.PathEscape(args[0])+"/"+action)
		},
	}
}

func alertDo(cmd *cobra.Command, g *Globals, method, path string) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	var a apiv1.Alert
	if err := g.Client().Do(ctx, method, path, nil, &a); err != nil {
		return err
	}
	return output.Render(cmd.OutOrStdout(), g.Output, a, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", a.ID)
		output.Row(tw, "STATE", a.State)
		output.Row(tw, "SEVERITY", a.Severity)
		output.Row(tw, "RULE", a.Rule)
		output.Row(tw, "STREAM", a.Stream)
		output.Row(tw, "TEAM", a.Team)
		if a.Metric != "" {
			output.Row(tw, "METRIC", a.Metric)
			output.Row(tw, "LABEL", a.Label)
		}
		if a.Signal != "" {
			output.Row(tw, "SIGNAL", a.Signal)
		}
		output.Row(tw, "SUMMARY", a.Summary)
		output.Row(tw, "STARTED", a.StartedAt.Format(time.RFC3339))
		if a.AcknowledgedAt != nil {
			output.Row(tw, "ACKNOWLEDGED", a.AcknowledgedAt.Format(time.RFC3339)+" by "+a.AcknowledgedBy)
		}
		if a.ResolvedAt != nil {
			output.Row(tw, "RESOLVED", a.ResolvedAt.Format(time.RFC3339)+" by "+a.ResolvedBy)
		}
	})
}
