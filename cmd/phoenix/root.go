package main

import (
	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/agent"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
	"github.com/phoenix-platform/phoenix/projects/loadsim"
	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

// factories is the composition root: every service `phoenix server` can run.
func factories() map[string]service.Factory {
	return map[string]service.Factory{
		config.ServiceAnalytics:       analytics.New,
		config.ServiceGenerator:       generator.New,
		config.ServiceController:      controller.New,
		config.ServiceAnomalyDetector: anomalydetector.New,
		config.ServiceLoadsim:         loadsim.New,
		config.ServicePlatformAPI:     platformapi.New,
	}
}

func newRoot() *cobra.Command {
	root := phoenixcli.NewRoot()
	root.AddCommand(app.NewServerCommand(app.ServerOptions{
		Use:        "server",
		Short:      "Run Phoenix: every service in one process (or a subset with --services)",
		Factories:  factories(),
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
