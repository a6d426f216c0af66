package phoenixcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, alertRuleCmd) }

// alertRuleCmd is `phoenix alert-rule`: rules the anomaly detector
// evaluates on every rollup.
func alertRuleCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "alert-rule",
		Short: "Create, list, inspect and delete alert rules (budgets, explosion, churn, critical signal lost, detector score)",
	}
	c.AddCommand(alertRuleCreateCmd(g), alertRuleListCmd(g), alertRuleGetCmd(g),
		deleteCmd(g, "Delete an alert rule (its open alerts are resolved)", "/api/v1/alert-rules/"))
	return c
}

// postJSON sends body to path and decodes the answer into out.
func postJSON(cmd *cobra.Command, g *Globals, path string, body, out any) error {
	ctx, cancel := apiCtx(cmd)
	defer cancel()
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return g.Client().Do(ctx, "POST", path, bytes.NewReader(b), out)
}

// withTeam adds ?team= when set.
func withTeam(path, team string) string {
	if team == "" {
		return path
	}
	return path + "?team=" + url.QueryEscape(team)
}

// pagePath adds ?limit= and ?cursor= when set.
func pagePath(path string, q url.Values, limit int, cursor string) string {
	if q == nil {
		q = url.Values{}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) > 0 {
		return path + "?" + q.Encode()
	}
	return path
}

// deleteCmd is `<group> delete ID` for DELETE <prefix><id>.
func deleteCmd(g *Globals, short, prefix string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			if err := g.Client().Do(ctx, "DELETE", prefix+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, map[string]string{"deleted": args[0]}, func(tw *tabwriter.Writer) {
				output.Row(tw, "deleted", args[0])
			})
		},
	}
}

func alertRuleCreateCmd(g *Globals) *cobra.Command {
	var (
		in   apiv1.AlertRuleInput
		team string
	)
	c := &cobra.Command{
		Use:   "create NAME --kind KIND",
		Short: "Create an alert rule",
		Long: `Create an alert rule of your team, evaluated on every rollup of --stream (or of every stream of the team).

Kinds: max_active_series (--threshold series), max_monthly_cost (--threshold in the catalog's currency, --price-model),
churn (--threshold new series per minute), detector_severity (--signal, --threshold score in (0,1]),
explosion, critical_signal_lost (--metric).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			var r apiv1.AlertRule
			if err := postJSON(cmd, g, withTeam("/api/v1/alert-rules", team), in, &r); err != nil {
				return err
			}
			return renderRule(cmd, g, r)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Kind, "kind", "", "rule kind: "+strings.Join(apiv1.RuleKinds, ", "))
	f.StringVar(&in.Stream, "stream", "", "the stream (default: every stream of the team)")
	f.StringVar(&in.Severity, "severity", "", "critical, high (default), medium or low")
	f.Float64Var(&in.Threshold, "threshold", 0, "the rule's threshold")
	f.StringVar(&in.PriceModel, "price-model", "", "max_monthly_cost: the price model (datadog, grafana-cloud, ...)")
	f.StringVar(&in.Metric, "metric", "", "critical_signal_lost: the metric that must not vanish")
	f.StringVar(&in.Signal, "signal", "", "detector_severity: active_series, new_series_per_min, dp_per_s or bytes_per_s")
	f.StringVar(&team, "team", "", "the owning team (default: your first team)")
	_ = c.MarkFlagRequired("kind")
	return c
}

func alertRuleListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List alert rules of your teams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var out apiv1.List[apiv1.AlertRule]
			if err := g.Client().Do(ctx, "GET", pagePath("/api/v1/alert-rules", nil, limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "TEAM", "STREAM", "KIND", "SEVERITY", "THRESHOLD")
				for _, r := range out.Items {
					output.Row(tw, r.ID, r.Name, r.Team, orAll(r.Stream), r.Kind, r.Severity, strconv.FormatFloat(r.Threshold, 'g', -1, 64))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this id")
	return c
}

func orAll(s string) string {
	if s == "" {
		return "(all)"
	}
	return s
}

func alertRuleGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one alert rule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var r apiv1.AlertRule
			if err := g.Client().Do(ctx, "GET", "/api/v1/alert-rules/"+url.PathEscape(args[0]), nil, &r); err != nil {
				return err
			}
			return renderRule(cmd, g, r)
		},
	}
}

func renderRule(cmd *cobra.Command, g *Globals, r apiv1.AlertRule) error {
	return output.Render(cmd.OutOrStdout(), g.Output, r, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", r.ID)
		output.Row(tw, "NAME", r.Name)
		output.Row(tw, "TEAM", r.Team)
		output.Row(tw, "STREAM", orAll(r.Stream))
		output.Row(tw, "KIND", r.Kind)
		output.Row(tw, "SEVERITY", r.Severity)
		output.Row(tw, "THRESHOLD", strconv.FormatFloat(r.Threshold, 'g', -1, 64))
		for k, v := range map[string]string{"PRICE MODEL": r.PriceModel, "METRIC": r.Metric, "SIGNAL": r.Signal} {
			if v != "" {
				output.Row(tw, k, v)
			}
		}
		output.Row(tw, "CREATED", r.CreatedAt.Format(time.RFC3339)+" by "+r.CreatedBy)
	})
}
