package phoenixcli

import (
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, budgetCmd) }

// budgetCmd is `phoenix budget`: the read-only budget view of alert rules
// (budgets are created with `phoenix alert-rule create --kind
// max_active_series|max_monthly_cost`).
func budgetCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "budget",
		Short: "Show budgets (budget alert rules) and what each last measured per stream",
	}
	c.AddCommand(budgetListCmd(g))
	return c
}

func budgetListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List budgets with their last value per stream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var out apiv1.List[apiv1.Budget]
			if err := g.Client().Do(ctx, "GET", pagePath("/api/v1/budgets", nil, limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "RULE", "NAME", "KIND", "THRESHOLD", "STREAM", "VALUE", "USED", "EXCEEDED")
				for _, b := range out.Items {
					threshold := strconv.FormatFloat(b.Rule.Threshold, 'g', -1, 64)
					if len(b.Streams) == 0 {
						// No rollup evaluated yet: the value is not known.
						output.Row(tw, b.Rule.ID, b.Rule.Name, b.Rule.Kind, threshold, orAll(b.Rule.Stream), "unknown", "unknown", "unknown")
						continue
					}
					for _, s := range b.Streams {
						output.Row(tw, b.Rule.ID, b.Rule.Name, b.Rule.Kind, threshold, s.Stream,
							strconv.FormatFloat(s.Value, 'g', 6, 64), fmt.Sprintf("%.0f%%", s.Used*100), strconv.FormatBool(s.Exceeded))
					}
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

// alertDeliveriesCmd is `phoenix alert deliveries ID`: where each of the
// alert's events was sent and whether it arrived.
func alertDeliveriesCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "deliveries ID",
		Short: "Show the delivery status of an alert's notifications per channel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var out struct {
				Items []apiv1.Delivery `json:"items"`
			}
			if err := g.Client().Do(ctx, "GET", "/api/v1/alerts/"+url.PathEscape(args[0])+"/deliveries", nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "CHANNEL", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "UPDATED", "ERROR")
				for _, d := range out.Items {
					httpStatus := "-"
					if d.HTTPStatus != 0 {
						httpStatus = strconv.Itoa(d.HTTPStatus)
					}
					output.Row(tw, d.ChannelID, d.Event, d.Status, strconv.Itoa(d.Attempts), httpStatus, d.UpdatedAt.Format(time.RFC3339), d.Error)
				}
			})
		},
	}
}
