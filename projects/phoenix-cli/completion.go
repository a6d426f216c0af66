package phoenixcli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Shell completion: cobra's `phoenix completion bash|zsh|fish|powershell`
// scripts call the hidden `phoenix __complete <args>` command, which asks
// these functions for the names of experiments, pipelines, agents, rollouts
// and streams from the API (with --api-url and the stored credentials).

// completionTimeout bounds one completion's API call: a shell waits on it.
const completionTimeout = 5 * time.Second

// completionLimit is the page asked for; the API's maximum.
const completionLimit = 500

// namer lists the candidates of one kind as "value\tdescription".
type namer func(ctx context.Context, g *Globals) ([]cobra.Completion, error)

var namers = map[string]namer{
	"experiment": func(ctx context.Context, g *Globals) ([]cobra.Completion, error) {
		var out apiv1.List[apiv1.Experiment]
		err := g.Client().Do(ctx, "GET", fmt.Sprintf("/api/v1/experiments?limit=%d", completionLimit), nil, &out)
		var c []cobra.Completion
		for _, e := range out.Items {
			c = append(c, cobra.CompletionWithDesc(e.ID, e.Name+" ("+e.State+")"))
		}
		return c, err
	},
	"pipeline": func(ctx context.Context, g *Globals) ([]cobra.Completion, error) {
		var out apiv1.List[apiv1.Pipeline]
		err := g.Client().Do(ctx, "GET", fmt.Sprintf("/api/v1/pipelines?limit=%d", completionLimit), nil, &out)
		var c []cobra.Completion
		for _, p := range out.Items {
			c = append(c, cobra.CompletionWithDesc(p.ID, fmt.Sprintf("%s v%d", p.Name, p.Version)))
		}
		return c, err
	},
	"agent": func(ctx context.Context, g *Globals) ([]cobra.Completion, error) {
		var out apiv1.List[apiv1.Agent]
		err := g.Client().Do(ctx, "GET", fmt.Sprintf("/api/v1/agents?limit=%d", completionLimit), nil, &out)
		var c []cobra.Completion
		for _, a := range out.Items {
			c = append(c, cobra.CompletionWithDesc(a.ID, a.Hostname))
		}
		return c, err
	},
	"rollout": func(ctx context.Context, g *Globals) ([]cobra.Completion, error) {
		var out apiv1.List[apiv1.Rollout]
		err := g.Client().Do(ctx, "GET", fmt.Sprintf("/api/v1/rollouts?limit=%d", completionLimit), nil, &out)
		var c []cobra.Completion
		for _, r := range out.Items {
			c = append(c, cobra.CompletionWithDesc(r.ID, string(r.State)))
		}
		return c, err
	},
	"stream": func(ctx context.Context, g *Globals) ([]cobra.Completion, error) {
		var out apiv1.List[apiv1.StreamSummary]
		err := g.Client().Do(ctx, "GET", fmt.Sprintf("/api/v1/streams?limit=%d", completionLimit), nil, &out)
		var c []cobra.Completion
		for _, s := range out.Items {
			c = append(c, cobra.CompletionWithDesc(s.Stream, fmt.Sprintf("%d series", s.ActiveSeries)))
		}
		return c, err
	},
}

// argKinds: the commands whose first argument names an object, by path
// under `phoenix`.
var argKinds = map[string]string{
	"experiment get": "experiment", "experiment delete": "experiment", "experiment start": "experiment",
	"experiment stop": "experiment", "experiment approve": "experiment", "experiment promote": "experiment",
	"experiment rollback": "experiment", "experiment events": "experiment", "experiment results": "experiment",
	"experiment watch": "experiment",
	"pipeline get":     "pipeline", "pipeline update": "pipeline", "pipeline versions": "pipeline",
	"pipeline diff": "pipeline", "pipeline delete": "pipeline",
	"agent get": "agent", "agent history": "agent", "agent push": "agent",
	"rollout get": "rollout", "rollout abort": "rollout",
	"stream rollups": "stream",
}

// flagKinds: flags that name an object, by flag name; a command path key
// ("compare") narrows a flag to one command.
var flagKinds = map[string]string{
	"stream": "stream", "compare baseline": "stream", "compare candidate": "stream",
	"agent push pipeline": "pipeline", "rollout create pipeline": "pipeline",
}

// addCompletions gives every command listed in argKinds and every flag in
// flagKinds its dynamic completion.
func addCompletions(root *cobra.Command, g *Globals) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), root.Name()))
		if kind, ok := argKinds[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = completeFirstArg(g, kind)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			kind, ok := flagKinds[strings.TrimSpace(path+" "+f.Name)]
			if !ok {
				kind, ok = flagKinds[f.Name]
			}
			if ok {
				_ = c.RegisterFlagCompletionFunc(f.Name, func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
					return complete(cmd, g, kind, toComplete)
				})
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func completeFirstArg(g *Globals, kind string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return complete(cmd, g, kind, toComplete)
	}
}

// complete asks the API for kind's names starting with prefix. A failure
// completes nothing (never file names) and says why in cobra's debug log
// (BASH_COMP_DEBUG_FILE).
func complete(cmd *cobra.Command, g *Globals, kind, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	all, err := namers[kind](ctx, g)
	if err != nil {
		cobra.CompErrorln(fmt.Sprintf("list %ss: %v", kind, err))
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, c := range all {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
