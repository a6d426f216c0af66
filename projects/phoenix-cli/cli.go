// Package phoenixcli is the `phoenix` command line: every operation of the
// API, with table, JSON and YAML output for people and scripts.
package phoenixcli

import (
	"context"
	"fmt"
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
	apiURL := os.Getenv("PHOENIX_API_URL")
	if apiURL == "" {
		apiURL = "http://localhost:8080"
	}
	root.PersistentFlags().StringVar(&g.APIURL, "api-url", apiURL, "Phoenix API URL (env PHOENIX_API_URL)")
	root.PersistentFlags().StringVarP(&g.Output, "output", "o", output.Table, "output format: table, json or yaml")
	root.AddCommand(versionCmd(g), statusCmd(g))
	for _, c := range commands {
		root.AddCommand(c(g))
	}
	return root
}

// commands is filled by each cmd_<topic>.go file's init, so topics are added
// without editing this file.
var commands []func(*Globals) *cobra.Command

// Client returns an API client for the globals.
func (g *Globals) Client() *client.Client {
	token := os.Getenv("PHOENIX_TOKEN")
	if g.Token != "" {
		token = g.Token
	}
	if token == "" {
		token = storedToken(g.APIURL) // from `phoenix login` (cmd_auth.go)
	}
	return client.New(g.APIURL, token)
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
