package phoenixcli

import (
	"context"
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

func init() { commands = append(commands, cardinalityCmd, costCmd, compareCmd) }

// cardinalityCmd is `phoenix cardinality`: the streams, or one stream's
// breakdown (the same JSON as GET /api/v1/streams/{stream}/cardinality).
func cardinalityCmd(g *Globals) *cobra.Command {
	var (
		stream    string
		top       int
		labelRows int
	)
	c := &cobra.Command{
		Use:   "cardinality",
		Short: "Active series per stream, metric and label: which labels drive cost",
		Example: `  phoenix cardinality                       # streams
  phoenix cardinality --stream default      # breakdown
  phoenix cardinality --stream exp1--candidate -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if stream == "" {
				var out apiv1.List[apiv1.StreamSummary]
				if err := g.Client().Do(ctx, "GET", "/api/v1/streams?limit=500", nil, &out); err != nil {
					return err
				}
				return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
					output.Row(tw, "STREAM", "TEAM", "ACTIVE SERIES", "EXACT", "LAST SEEN")
					for _, s := range out.Items {
						output.Row(tw, s.Stream, s.Team, s.ActiveSeries, s.Exact, s.LastSeen.Format(time.RFC3339))
					}
				})
			}
			q := url.Values{"top_values": {strconv.Itoa(top)}}
			var rep apiv1.CardinalityReport
			if err := g.Client().Do(ctx, "GET", "/api/v1/streams/"+url.PathEscape(stream)+"/cardinality?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, rep, func(tw *tabwriter.Writer) { cardinalityTable(tw, rep, labelRows) })
		},
	}
	c.Flags().StringVar(&stream, "stream", "", "stream to break down (default: list the streams)")
	c.Flags().IntVar(&top, "top", 3, "top values shown per label (1-100)")
	c.Flags().IntVar(&labelRows, "labels", 5, "labels shown per metric in the table, by share")
	return c
}

func num(v *float64, reason string) string {
	if v == nil {
		if reason == "" {
			return "unknown"
		}
		return "unknown (" + reason + ")"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func cardinalityTable(tw *tabwriter.Writer, rep apiv1.CardinalityReport, labelRows int) {
	exact := "exact"
	if !rep.Exact {
		exact = fmt.Sprintf("estimate ±%.2f%%", rep.ErrorBound*100)
	}
	fmt.Fprintf(tw, "stream %s (team %s): %d active series (%s), %s dp/s, %s bytes/s, %s new series/min\n\n",
		rep.Stream, rep.Team, rep.ActiveSeries, exact, num(rep.DPPerS, rep.DPPerSUnknownReason),
		num(rep.BytesPerS, rep.BytesPerSUnknownReason), num(rep.NewSeriesPerMin, rep.NewSeriesUnknownReason))
	output.Row(tw, "METRIC", "TYPE", "SERIES", "DP/S", "LABEL", "SCOPE", "DISTINCT", "SHARE", "TOP VALUES")
	for _, m := range rep.Metrics {
		output.Row(tw, m.Name, m.Type, m.Series, num(m.DPPerS, ""), "", "", "", "", "")
		for i, l := range m.Labels {
			if i >= labelRows {
				break
			}
			var tv []string
			for _, v := range l.TopValues {
				tv = append(tv, fmt.Sprintf("%s (%d)", v.Value, v.Series))
			}
			output.Row(tw, "", "", "", "", l.Name, l.Scope, l.DistinctValues, fmt.Sprintf("%.0f%%", l.Share*100), strings.Join(tv, ", "))
		}
	}
}

// costCmd is `phoenix cost --stream S [--model M] [--by LABEL [--top N]]`.
func costCmd(g *Globals) *cobra.Command {
	var stream, model, by string
	var top int
	c := &cobra.Command{
		Use:   "cost",
		Short: "Projected monthly cost of a stream under the price catalog's models, or split by a label (showback)",
		Example: `  phoenix cost --stream default
  phoenix cost --stream default --by service.name --model datadog
  phoenix cost --stream default --by k8s.namespace.name --top 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{"stream": {stream}}
			if model != "" {
				q.Set("model", model)
			}
			if by != "" {
				q.Set("by", by)
				q.Set("top", strconv.Itoa(top))
			}
			var rep apiv1.CostReport
			if err := g.Client().Do(ctx, "GET", "/api/v1/cost?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, rep, func(tw *tabwriter.Writer) {
				costTable(tw, rep)
				if rep.Showback != nil {
					fmt.Fprintln(tw)
					showbackTable(tw, rep)
				}
			})
		},
	}
	c.Flags().StringVar(&stream, "stream", apiv1.DefaultStream, "stream to price")
	c.Flags().StringVar(&model, "model", "", "one price model (default: all)")
	c.Flags().StringVar(&by, "by", "", "split the cost by this label's values (team, service.name, k8s.namespace.name, job, ...)")
	c.Flags().IntVar(&top, "top", 20, "with --by: values listed one by one (1-500); the rest are (other)")
	return c
}

// showbackTable prints one row per label value group with its series,
// share and each model's monthly cost, after saying whether the split is
// exact and why not.
func showbackTable(tw *tabwriter.Writer, rep apiv1.CostReport) {
	sb := rep.Showback
	exact := "exact series counts"
	if !sb.Exact {
		exact = "ESTIMATED: " + sb.EstimatedReason
	}
	fmt.Fprintf(tw, "by %s: %d distinct values, series active %s to %s (%s)\n", sb.Label, sb.DistinctValues,
		sb.WindowFrom.Format(time.RFC3339), sb.WindowTo.Format(time.RFC3339), exact)
	fmt.Fprintf(tw, "datapoints and bytes: %s\n\n", sb.DPSplitBasis)
	head := []any{strings.ToUpper(sb.Label), "SERIES", "SHARE", "DP/S"}
	for _, m := range rep.Models {
		head = append(head, strings.ToUpper(m.Model)+" "+rep.Catalog.Currency+"/MONTH")
	}
	output.Row(tw, head...)
	for _, g := range sb.Groups {
		value := g.Value
		if g.Kind == apiv1.GroupOther {
			value = fmt.Sprintf("%s (%d values)", g.Value, g.Values)
		}
		row := []any{value, g.Series, fmt.Sprintf("%.1f%%", g.Share*100), num(g.DPPerS, "")}
		for _, m := range g.Models {
			if m.MonthlyCost == nil {
				row = append(row, "unknown")
				continue
			}
			row = append(row, strconv.FormatFloat(*m.MonthlyCost, 'f', 2, 64))
		}
		output.Row(tw, row...)
	}
}

// costUnits says in words what each price catalog unit bills by
// (configs/pricing.yaml), so a figure never reads as a bare number.
var costUnits = map[string]string{
	"per_series_month":       "active series per month",
	"per_gb_ingested":        "GB ingested",
	"per_million_datapoints": "million datapoints ingested",
	"self_hosted":            "GB-month of memory (self-hosted)",
}

// costTable prints the measured inputs with their units, then each model's
// monthly cost in the catalog's currency; a null figure reads "unknown" and
// why.
func costTable(tw *tabwriter.Writer, rep apiv1.CostReport) {
	currency := rep.Catalog.Currency
	if currency == "" {
		currency = "(currency not given by the catalog)"
	}
	series := num(rep.ActiveSeries, "not measured")
	if rep.ActiveSeries != nil {
		series = strconv.FormatFloat(*rep.ActiveSeries, 'f', 0, 64)
	}
	fmt.Fprintf(tw, "stream %s: %s active series, %s datapoints/s, %s bytes/s\n", rep.Stream,
		series, num(rep.DPPerS, "not measured yet"), num(rep.BytesPerS, "not measured yet"))
	fmt.Fprintf(tw, "prices: %s, %s, in %s\n\n", rep.Catalog.Source, rep.Catalog.Date, currency)
	output.Row(tw, "MODEL", "BILLED BY", "MONTHLY COST")
	for _, m := range rep.Models {
		unit, ok := costUnits[m.Unit]
		if !ok {
			unit = m.Unit
		}
		cost := num(m.MonthlyCost, m.MonthlyCostUnknownReason)
		if m.MonthlyCost != nil {
			cost = strconv.FormatFloat(*m.MonthlyCost, 'f', 2, 64) + " " + currency + "/month"
		}
		output.Row(tw, m.Model, unit, cost)
	}
}

// compareCmd is `phoenix compare --baseline B --candidate C`.
func compareCmd(g *Globals) *cobra.Command {
	var baseline, candidate, model, from, to string
	var critical, aggregates []string
	c := &cobra.Command{
		Use:   "compare",
		Short: "Fidelity of a candidate stream against its baseline: reductions, critical retention, aggregate error",
		Example: `  phoenix compare --baseline exp1--baseline --candidate exp1--topk \
    --critical 'process.executable.name=~"nginx|postgres"' --aggregate 'sum({"process.cpu.time"}) by ("host.name")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{"baseline": {baseline}, "candidate": {candidate}, "critical": critical, "aggregate": aggregates}
			for k, v := range map[string]string{"model": model, "from": from, "to": to} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var rep apiv1.CompareReport
			if err := g.Client().Do(ctx, "GET", "/api/v1/compare?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, rep, func(tw *tabwriter.Writer) {
				output.Row(tw, "series reduction", pct(rep.SeriesReduction, rep.SeriesReductionUnknownReason))
				output.Row(tw, "datapoint reduction", pct(rep.DPReduction, rep.DPReductionUnknownReason))
				output.Row(tw, "byte reduction", pct(rep.BytesReduction, rep.BytesReductionUnknownReason))
				output.Row(tw, "cost reduction ("+rep.Model+")", pct(rep.CostReduction, rep.CostReductionUnknownReason))
				if len(rep.Critical) > 0 {
					output.Row(tw, "critical retention", pct(rep.CriticalRetention, rep.CriticalRetentionUnknownReason))
				}
				for _, cr := range rep.Critical {
					output.Row(tw, "  "+cr.Matcher, fmt.Sprintf("%d of %d", cr.Retained, cr.Baseline))
				}
				for _, a := range rep.Aggregates {
					output.Row(tw, "aggregate "+a.Expr, "max error "+pct(a.MaxRelError, a.UnknownReason)+aggregateBasis(a))
				}
			})
		},
	}
	c.Flags().StringVar(&baseline, "baseline", "", "baseline stream")
	c.Flags().StringVar(&candidate, "candidate", "", "candidate stream")
	c.Flags().StringArrayVar(&critical, "critical", nil, "critical label matchers (repeatable)")
	c.Flags().StringArrayVar(&aggregates, "aggregate", nil, "PromQL aggregate to compare (repeatable)")
	c.Flags().StringVar(&model, "model", "", "price model for the cost reduction (default self-hosted)")
	c.Flags().StringVar(&from, "from", "", "window start (RFC 3339); default: live")
	c.Flags().StringVar(&to, "to", "", "window end (RFC 3339)")
	_ = c.MarkFlagRequired("baseline")
	_ = c.MarkFlagRequired("candidate")
	return c
}

// aggregateBasis says what an aggregate's error was computed over: how many
// windows, or the streams' latest values and why.
func aggregateBasis(a apiv1.AggregateResult) string {
	switch a.Basis {
	case apiv1.BasisWindows:
		return fmt.Sprintf(", mean %s over %d windows", pct(a.MeanRelError, ""), len(a.Windows))
	case apiv1.BasisLatest:
		if a.BasisReason != "" {
			return " (latest values: " + a.BasisReason + ")"
		}
		return " (latest values)"
	}
	return ""
}

// pct renders a ratio as a percentage, or "unknown" and why.
func pct(v *float64, reason string) string {
	switch {
	case v != nil:
		return fmt.Sprintf("%.1f%%", *v*100)
	case reason != "":
		return "unknown (" + reason + ")"
	}
	return "unknown"
}
