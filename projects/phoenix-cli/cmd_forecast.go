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

func init() { commands = append(commands, forecastCmd) }

// forecastCmd is `phoenix forecast --stream S [--horizon 30d]`: the same
// JSON as GET /api/v1/forecast.
func forecastCmd(g *Globals) *cobra.Command {
	var stream, horizon, model string
	var budgetSeries, budgetCost float64
	c := &cobra.Command{
		Use:   "forecast",
		Short: "Projected active series and monthly cost of a stream, and when it crosses a budget",
		Example: `  phoenix forecast --stream default
  phoenix forecast --stream default --horizon 7d --budget-series 50000
  phoenix forecast --stream default --model datadog --budget-monthly-cost 2000 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{"stream": {stream}, "horizon": {horizon}}
			if model != "" {
				q.Set("model", model)
			}
			if budgetSeries > 0 {
				q.Set("budget_series", strconv.FormatFloat(budgetSeries, 'f', -1, 64))
			}
			if budgetCost > 0 {
				q.Set("budget_monthly_cost", strconv.FormatFloat(budgetCost, 'f', -1, 64))
			}
			var rep apiv1.ForecastReport
			if err := g.Client().Do(ctx, "GET", "/api/v1/forecast?"+q.Encode(), nil, &rep); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, rep, func(tw *tabwriter.Writer) { forecastTable(tw, rep) })
		},
	}
	c.Flags().StringVar(&stream, "stream", apiv1.DefaultStream, "stream to forecast")
	c.Flags().StringVar(&horizon, "horizon", "30d", "how far ahead: a duration (12h) or days (30d)")
	c.Flags().StringVar(&model, "model", "", "one price model (default: all; the cost budget uses self-hosted)")
	c.Flags().Float64Var(&budgetSeries, "budget-series", 0, "when does the stream cross this many active series")
	c.Flags().Float64Var(&budgetCost, "budget-monthly-cost", 0, "when does the stream cross this monthly cost")
	return c
}

func forecastTable(tw *tabwriter.Writer, rep apiv1.ForecastReport) {
	level := fmt.Sprintf("%.0f%%", rep.IntervalLevel*100)
	fmt.Fprintf(tw, "stream %s, %s ahead (%s): %s\n", rep.Stream, time.Duration(rep.HorizonSeconds*float64(time.Second)),
		rep.At.Format(time.RFC3339), rep.Method)
	if rep.History.Points > 0 {
		fmt.Fprintf(tw, "history: %s to %s, %d steps of %s (%d interpolated)\n", rep.History.From.Format(time.RFC3339),
			rep.History.To.Format(time.RFC3339), rep.History.Points, time.Duration(rep.History.StepSeconds*float64(time.Second)), rep.History.FilledPoints)
	}
	fmt.Fprintln(tw)
	if rep.ActiveSeries == nil {
		output.Row(tw, "active series", "unknown ("+rep.ActiveSeriesUnknownReason+")")
	} else {
		a := rep.ActiveSeries
		output.Row(tw, "active series", fmt.Sprintf("%.0f now, %.0f projected (%s interval %.0f to %.0f)", a.Current, a.Point, level, a.Lower, a.Upper))
	}
	for _, m := range rep.MonthlyCost {
		if m.MonthlyCost == nil {
			output.Row(tw, "monthly cost "+m.Model, num(nil, m.MonthlyCostUnknownReason))
			continue
		}
		output.Row(tw, "monthly cost "+m.Model, fmt.Sprintf("%s now, %.2f projected (%s interval %s to %s)",
			num(m.Current, ""), *m.MonthlyCost, level, num(m.Lower, ""), num(m.Upper, "")))
	}
	for _, b := range rep.Budgets {
		name := "budget " + b.Kind
		if b.Model != "" {
			name += " (" + b.Model + ")"
		}
		output.Row(tw, name, fmt.Sprintf("%g: %s", b.Limit, budgetStatus(b)))
	}
}

// budgetStatus says in words when a budget is crossed.
func budgetStatus(b apiv1.BudgetForecast) string {
	at := func(t *time.Time) string {
		if t == nil {
			return "?"
		}
		return t.Format(time.RFC3339)
	}
	switch b.Status {
	case apiv1.BudgetOver:
		return "already over"
	case apiv1.BudgetCrosses:
		return "projected to cross at " + at(b.CrossesAt) + " (upper bound crosses at " + at(b.EarliestAt) + ")"
	case apiv1.BudgetMayCross:
		return "may cross: the upper bound crosses at " + at(b.EarliestAt)
	case apiv1.BudgetWithin:
		return "stays within over the horizon"
	}
	return "unknown (" + b.UnknownReason + ")"
}
