// Package phoenixcli is the `phoenix` command line: every operation of the
// API, with table, JSON and YAML output for people and scripts.
package phoenixcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/version"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

// Globals are the flags every client command shares.
type Globals struct {
	APIURL string
	Token  string
	Output string
	Quiet  bool // --quiet: no progress or notes on stderr, only results and errors
}

// defaultAPIURL is --api-url's default when PHOENIX_API_URL is unset.
const defaultAPIURL = "http://localhost:8080"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// NewRoot builds the `phoenix` command with the client commands; the
// composition root adds `server` and `agent run`.
func NewRoot() *cobra.Command {
	g := &Globals{}
	root := &cobra.Command{
		Use:           "phoenix",
		Short:         "Phoenix cuts the cost of observability metrics without losing the signals you rely on",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return output.Check(g.Output)
		},
	}
	root.PersistentFlags().StringVar(&g.APIURL, "api-url", envOr("PHOENIX_API_URL", defaultAPIURL), "Phoenix API URL (env PHOENIX_API_URL)")
	root.PersistentFlags().StringVarP(&g.Output, "output", "o", output.Table, "output format: table, json or yaml")
	root.PersistentFlags().BoolVarP(&g.Quiet, "quiet", "q", false, "no progress lines, spinners or notes on stderr (results and errors still print)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{output.Table, output.JSON, output.YAML}, cobra.ShellCompDirectiveNoFileComp))
	root.AddCommand(versionCmd(g), statusCmd(g), exitCodesTopic())
	for _, c := range commands {
		root.AddCommand(c(g))
	}
	addCompletions(root, g)
	return root
}

// commands is filled by each cmd_<topic>.go file's init, so topics are added
// without editing this file.
var commands []func(*Globals) *cobra.Command

// Client returns an API client for the globals.
func (g *Globals) Client() *client.Client {
	return client.New(g.APIURL, g.token())
}

// token is --token's value, else PHOENIX_TOKEN, else the credentials of
// `phoenix login` for the API URL (refreshed when about to expire).
func (g *Globals) token() string {
	token := os.Getenv("PHOENIX_TOKEN")
	if g.Token != "" {
		token = g.Token
	}
	if token == "" {
		token = storedToken(g.APIURL) // from `phoenix login` (cmd_auth.go)
	}
	return token
}

// progressOut is where a command's progress and notes go: stderr, or
// nowhere under --quiet.
func (g *Globals) progressOut(cmd *cobra.Command) io.Writer {
	if g.Quiet {
		return io.Discard
	}
	return cmd.ErrOrStderr()
}

func versionCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			return output.Render(cmd.OutOrStdout(), g.Output, v, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, v.String())
			})
		},
	}
}

func statusCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each service's health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			var st apiv1.StatusReport
			if err := g.Client().Do(ctx, "GET", "/api/v1/status", nil, &st); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, st, func(tw *tabwriter.Writer) {
				output.Row(tw, "SERVICE", "HEALTH", "VERSION", "INSTANCE")
				for _, s := range st.Services {
					output.Row(tw, s.Name, s.Health, s.Version, s.Instance)
				}
			})
		},
	}
}
