package phoenixcli

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, channelCmd) }

// channelCmd is `phoenix channel`: where alerts are sent.
func channelCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "channel",
		Short: "Create, list, inspect, test and delete notification channels (webhook, slack, pagerduty, teams)",
	}
	c.AddCommand(channelCreateCmd(g), channelListCmd(g), channelGetCmd(g), channelTestCmd(g),
		deleteCmd(g, "Delete a notification channel", "/api/v1/channels/"))
	return c
}

func channelCreateCmd(g *Globals) *cobra.Command {
	var (
		in        apiv1.ChannelInput
		team      string
		secretEnv string
	)
	c := &cobra.Command{
		Use:   "create NAME --type TYPE --url URL",
		Short: "Create a notification channel of your team",
		Long: `Create a notification channel. The secret (the webhook's HMAC key, PagerDuty's routing key) is read from
the environment variable named by --secret-env, so it stays out of shell history; it is stored encrypted and
never shown again. --allow-private (admins only) lets the URL reach private addresses.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			if secretEnv != "" {
				in.Secret = os.Getenv(secretEnv)
				if in.Secret == "" {
					return fmt.Errorf("--secret-env %s: the variable is empty or unset", secretEnv)
				}
			}
			var ch apiv1.Channel
			if err := postJSON(cmd, g, withTeam("/api/v1/channels", team), in, &ch); err != nil {
				return err
			}
			return renderChannel(cmd, g, ch)
		},
	}
	f := c.Flags()
	f.StringVar(&in.Type, "type", "", "webhook, slack, pagerduty or teams")
	f.StringVar(&in.URL, "url", "", "the receiver's URL (pagerduty: default the Events API v2 URL)")
	f.StringVar(&secretEnv, "secret-env", "", "environment variable holding the secret")
	f.StringSliceVar(&in.Severities, "severity", nil, "only alerts of these severities (repeat or comma-separate; default all)")
	f.StringSliceVar(&in.Streams, "stream", nil, "only alerts of these streams (default all)")
	f.BoolVar(&in.AllowPrivate, "allow-private", false, "allow private addresses (admins only)")
	f.StringVar(&team, "team", "", "the owning team (default: your first team)")
	_ = c.MarkFlagRequired("type")
	return c
}

func channelListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List notification channels of your teams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var out apiv1.List[apiv1.Channel]
			if err := g.Client().Do(ctx, "GET", pagePath("/api/v1/channels", nil, limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "TEAM", "TYPE", "URL", "SEVERITIES", "STREAMS")
				for _, ch := range out.Items {
					output.Row(tw, ch.ID, ch.Name, ch.Team, ch.Type, ch.URL, orAll(strings.Join(ch.Severities, ",")), orAll(strings.Join(ch.Streams, ",")))
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

func channelGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one notification channel",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var ch apiv1.Channel
			if err := g.Client().Do(ctx, "GET", "/api/v1/channels/"+url.PathEscape(args[0]), nil, &ch); err != nil {
				return err
			}
			return renderChannel(cmd, g, ch)
		},
	}
}

func renderChannel(cmd *cobra.Command, g *Globals, ch apiv1.Channel) error {
	return output.Render(cmd.OutOrStdout(), g.Output, ch, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", ch.ID)
		output.Row(tw, "NAME", ch.Name)
		output.Row(tw, "TEAM", ch.Team)
		output.Row(tw, "TYPE", ch.Type)
		output.Row(tw, "URL", ch.URL)
		output.Row(tw, "SECRET", map[bool]string{true: "set", false: "none"}[ch.HasSecret])
		output.Row(tw, "SEVERITIES", orAll(strings.Join(ch.Severities, ",")))
		output.Row(tw, "STREAMS", orAll(strings.Join(ch.Streams, ",")))
		output.Row(tw, "ALLOW PRIVATE", strconv.FormatBool(ch.AllowPrivate))
		output.Row(tw, "CREATED", ch.CreatedAt.Format(time.RFC3339)+" by "+ch.CreatedBy)
	})
}

// channelTestCmd sends a test notification; it exits non-zero when the
// receiver did not accept it.
func channelTestCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "test ID",
		Short: "Send a test notification now and show whether it was delivered",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var d apiv1.Delivery
			if err := g.Client().Do(ctx, "POST", "/api/v1/channels/"+url.PathEscape(args[0])+"/test", nil, &d); err != nil {
				return err
			}
			err := output.Render(cmd.OutOrStdout(), g.Output, d, func(tw *tabwriter.Writer) {
				output.Row(tw, "CHANNEL", d.ChannelID)
				output.Row(tw, "STATUS", d.Status)
				if d.HTTPStatus != 0 {
					output.Row(tw, "HTTP STATUS", strconv.Itoa(d.HTTPStatus))
				}
				if d.Error != "" {
					output.Row(tw, "ERROR", d.Error)
				}
			})
			if err == nil && d.Status != apiv1.DeliveryDelivered {
				err = fmt.Errorf("test notification not delivered: %s", d.Error)
			}
			return err
		},
	}
}
