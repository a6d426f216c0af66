package phoenixcli

import (
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

// The verbs of operations that had none: auth me, auth keys rotate, audit,
// user get, team get|delete, apikey get, stream list|rollups. operations.go
// maps every operationId of api/openapi.yaml to its command.

func init() { commands = append(commands, authCmd, auditCmd, streamCmd) }

func authCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{Use: "auth", Short: "Who you are, and the server's token signing keys"}
	me := &cobra.Command{
		Use:   "me",
		Short: "Show who the API takes you for: role, teams and (for API keys) scopes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var p apiv1.Principal
			if err := g.Client().Do(ctx, "GET", "/api/v1/auth/me", nil, &p); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, p, func(tw *tabwriter.Writer) {
				output.Row(tw, "SUBJECT", printable(p.Subject))
				output.Row(tw, "KIND", p.Kind)
				output.Row(tw, "ROLE", p.Role)
				output.Row(tw, "TEAMS", orDash(printable(strings.Join(p.Teams, ","))))
				output.Row(tw, "SCOPES", orDash(strings.Join(p.Scopes, ",")))
			})
		},
	}
	keys := &cobra.Command{Use: "keys", Short: "The server's token signing keys (admin)"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Sign new tokens with a new key; tokens signed by older keys stay valid until they expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var r struct {
				KID          string `json:"kid"`
				RetireInSecs int    `json:"previous_keys_retire_in_seconds"`
			}
			if err := g.Client().Do(ctx, "POST", "/api/v1/auth/keys/rotate", nil, &r); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, r, func(tw *tabwriter.Writer) {
				output.Row(tw, "NEW KEY", r.KID)
				output.Row(tw, "PREVIOUS KEYS RETIRE IN", (time.Duration(r.RetireInSecs) * time.Second).String())
			})
		},
	}
	keys.AddCommand(rotate)
	c.AddCommand(me, keys)
	return c
}

func auditCmd(g *Globals) *cobra.Command {
	var (
		limit         int
		cursor, actor string
	)
	c := &cobra.Command{
		Use:   "audit",
		Short: "The audit log of state-changing requests and logins, newest first (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if actor != "" {
				q.Set("actor", actor)
			}
			path := "/api/v1/audit"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var out apiv1.List[auditEntry]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "AT", "ACTOR", "ACTION", "PATH", "STATUS", "REMOTE")
				for _, e := range out.Items {
					output.Row(tw, e.ID, e.At.Format(time.RFC3339), printable(e.Actor), e.Action, printable(e.Path), e.Status, e.Remote)
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	c.Flags().StringVar(&actor, "actor", "", "only this user or API key id")
	return c
}

// auditEntry is the spec's AuditEntry (pkg/apiv1 has no type for it: the
// gateway writes it from its own store).
type auditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorKind string    `json:"actor_kind"`
	Action    string    `json:"action"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Remote    string    `json:"remote"`
	Status    int       `json:"status"`
	RequestID string    `json:"request_id"`
}

func streamCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{Use: "stream", Short: "Ingest streams: the list, and a stream's stored rollups"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List streams with their active series",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
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
		},
	}
	var (
		from, to, step string
		sketch         bool
	)
	rollups := &cobra.Command{
		Use:   "rollups STREAM",
		Short: "A stream's stored 10 s rollups (series, datapoints, bytes), merged to --step",
		Example: `  phoenix stream rollups default --from 2h --step 5m
  phoenix stream rollups default --from 2026-01-02T15:00:00Z --to 2026-01-02T16:00:00Z -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			for name, v := range map[string]string{"from": from, "to": to} {
				if v == "" {
					continue
				}
				t, err := timeArg(v, time.Now())
				if err != nil {
					return fmt.Errorf("--%s: %w", name, err)
				}
				q.Set(name, t)
			}
			if step != "" {
				q.Set("step", step)
			}
			if sketch {
				q.Set("sketch", "true")
			}
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			path := "/api/v1/streams/" + url.PathEscape(args[0]) + "/rollups"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var out apiv1.List[apiv1.Rollup]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "START", "END", "ACTIVE SERIES", "EXACT", "DATAPOINTS", "BYTES", "NEW SERIES")
				for _, r := range out.Items {
					output.Row(tw, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), r.ActiveSeries, r.Exact, r.Datapoints, r.Bytes, r.NewSeries)
				}
			})
		},
	}
	rollups.Flags().StringVar(&from, "from", "", "start: RFC 3339, Unix seconds, or a duration before now (2h) (default: an hour before --to)")
	rollups.Flags().StringVar(&to, "to", "", "end: RFC 3339, Unix seconds, or a duration before now (default: now)")
	rollups.Flags().StringVar(&step, "step", "", "bucket size (30s, 5m); default: rows as stored (at most 2000 buckets)")
	rollups.Flags().BoolVar(&sketch, "sketch", false, "include each bucket's HyperLogLog sketch (base64)")
	c.AddCommand(list, rollups)
	return c
}

// maxLookback bounds a --from/--to duration (a year, past any retention).
const maxLookback = 366 * 24 * time.Hour

// timeArg turns a --from/--to value into what the API reads: RFC 3339 and
// Unix seconds pass through; a Go duration (2h) is that long before now.
func timeArg(v string, now time.Time) (string, error) {
	if _, err := time.Parse(time.RFC3339, v); err == nil {
		return v, nil
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxLookback {
		return "", fmt.Errorf("%q is not RFC 3339, Unix seconds or a positive duration up to %s (2h)", v, maxLookback)
	}
	return now.Add(-d).UTC().Format(time.RFC3339), nil
}

func userGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show a user: role and teams", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u apiv1.User
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/users/"+url.PathEscape(args[0]), nil, &u); err != nil {
				return err
			}
			return renderUsers(cmd, g, []apiv1.User{u}, u)
		},
	}
}

func teamGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show a team and its members", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t apiv1.Team
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/teams/"+url.PathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, t, func(tw *tabwriter.Writer) {
				output.Row(tw, "TEAM", "MEMBERS", "CREATED")
				output.Row(tw, printable(t.Name), orDash(printable(strings.Join(t.Members, ","))), t.CreatedAt.Format(time.RFC3339))
			})
		},
	}
}

func teamDeleteCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete a team (admin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.Client().Do(cmd.Context(), "DELETE", "/api/v1/teams/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Deleted", args[0])
			return nil
		},
	}
}

func apikeyGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use: "get ID", Short: "Show a key (never its secret)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k apiv1.APIKey
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/apikeys/"+url.PathEscape(args[0]), nil, &k); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, k, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "ROLE", "SCOPES", "TEAMS", "CREATED BY", "EXPIRES", "REVOKED")
				output.Row(tw, k.ID, printable(k.Name), k.Role, strings.Join(k.Scopes, ","), orDash(printable(strings.Join(k.Teams, ","))),
					printable(k.CreatedBy), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt))
			})
		},
	}
}
