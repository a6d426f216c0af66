package phoenixcli

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, silenceCmd) }

// silenceCmd is `phoenix silence`: mute notifications of matching alerts.
func silenceCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "silence",
		Short: "Create, list and delete silences (alerts are recorded but not notified)",
	}
	c.AddCommand(silenceCreateCmd(g), silenceListCmd(g), deleteCmd(g, "Delete a silence", "/api/v1/silences/"))
	return c
}

func silenceCreateCmd(g *Globals) *cobra.Command {
	var (
		in   apiv1.SilenceInput
		team string
	)
	c := &cobra.Command{
		Use:   "create --duration 2h [--stream S] [--rule KIND|ID] [--severity SEV]",
		Short: "Silence matching alerts of your team for a while",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var si apiv1.Silence
			if err := postJSON(cmd, g, withTeam("/api/v1/silences", team), in, &si); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, si, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", si.ID)
				output.Row(tw, "MATCH", matcher(si))
				output.Row(tw, "FROM", si.StartsAt.Format(time.RFC3339))
				output.Row(tw, "UNTIL", si.EndsAt.Format(time.RFC3339))
			})
		},
	}
	f := c.Flags()
	f.StringVar(&in.Duration, "duration", "", "how long (a Go duration: 30m, 2h)")
	f.StringVar(&in.Stream, "stream", "", "only alerts of this stream")
	f.StringVar(&in.Rule, "rule", "", "only alerts of this rule kind or rule id")
	f.StringVar(&in.Severity, "severity", "", "only alerts of this severity")
	f.StringVar(&in.Comment, "comment", "", "why")
	f.StringVar(&team, "team", "", "the owning team (default: your first team)")
	_ = c.MarkFlagRequired("duration")
	return c
}

func matcher(si apiv1.Silence) string {
	m := ""
	for _, kv := range [][2]string{{"stream", si.Stream}, {"rule", si.Rule}, {"severity", si.Severity}} {
		if kv[1] != "" {
			m += kv[0] + "=" + kv[1] + " "
		}
	}
	if m == "" {
		return "(every alert of the team)"
	}
	return m
}

func silenceListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
		active bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List silences of your teams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			q := url.Values{}
			if active {
				q.Set("active", "true")
			}
			var out apiv1.List[apiv1.Silence]
			if err := g.Client().Do(ctx, "GET", pagePath("/api/v1/silences", q, limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "TEAM", "MATCH", "FROM", "UNTIL", "COMMENT")
				for _, si := range out.Items {
					output.Row(tw, si.ID, si.Team, matcher(si), si.StartsAt.Format(time.RFC3339), si.EndsAt.Format(time.RFC3339), si.Comment)
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this id")
	c.Flags().BoolVar(&active, "active", false, "only silences in force now")
	return c
}
