package main

import (
	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/cmd/phoenix/services"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/projects/agent"
	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
)

func newRoot() *cobra.Command {
	root := phoenixcli.NewRoot()
	root.AddCommand(app.NewServerCommand(app.ServerOptions{
		Use:        "server",
		Short:      "Run Phoenix: every service in one process (or a subset with --services)",
		Services:   services.All(),
		AfterStart: devFleet,
	}))
	attachAgentRun(root)
	return root
}

// attachAgentRun puts the agent daemon (`agent run`, projects/agent) under
// the CLI's `agent` command (list, get, history, push), so the two projects
// stay independent and users see one `phoenix agent`.
func attachAgentRun(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == "agent" {
			c.AddCommand(agent.NewRunCommand())
			return
		}
	}
	root.AddCommand(agent.NewCommand())
}
