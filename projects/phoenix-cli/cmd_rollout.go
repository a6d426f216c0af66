package phoenixcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, rolloutCmd) }

// rolloutCmd is `phoenix rollout`: push a stored pipeline version to the
// agents matching a selector, all at once or in steps, outside an
// experiment.
func rolloutCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "rollout",
		Short: "Push a stored pipeline version to matching agents, all at once or in steps",
	}
	c.AddCommand(rolloutCreateCmd(g), rolloutListCmd(g), rolloutGetCmd(g), rolloutAbortCmd(g))
	return c
}

// parsePipelineRef splits ID[@VERSION]; no version is 0, the latest.
func parsePipelineRef(s string) (string, int, error) {
	id, ver, found := strings.Cut(s, "@")
	if id == "" {
		return "", 0, errors.New("--pipeline is required: ID or ID@VERSION")
	}
	if !found {
		return id, 0, nil
	}
	v, err := strconv.Atoi(ver)
	if err != nil || v < 1 {
		return "", 0, fmt.Errorf("--pipeline %q: the version after @ must be a positive integer", s)
	}
	return id, v, nil
}

// parseSelector reads k=v[,k=v] into labels; an entry without = or with
// an empty key is an error rather than a silently wider selection.
func parseSelector(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("--selector is required: k=v[,k=v] (every label must match)")
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--selector %q: %q is not k=v", s, kv)
		}
		out[k] = v
	}
	return out, nil
}

func rolloutPath(id string, sub ...string) string {
	p := "/api/v1/rollouts/" + url.PathEscape(id)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

func rolloutCreateCmd(g *Globals) *cobra.Command {
	var (
		pipeline, selector, strategy, team string
		steps                              []int
		pause                              time.Duration
	)
	c := &cobra.Command{
		Use:   "create --pipeline ID[@VERSION] --selector k=v[,k=v]",
		Short: "Start a rollout (every problem of the request is listed)",
		Example: "  phoenix rollout create --pipeline 0190a1b2@3 --selector env=prod\n" +
			"  phoenix rollout create --pipeline 0190a1b2 --selector env=prod,zone=a --strategy staged --steps 10,50,100 --pause 30s",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, version, err := parsePipelineRef(pipeline)
			if err != nil {
				return err
			}
			sel, err := parseSelector(selector)
			if err != nil {
				return err
			}
			body := apiv1.CreateRolloutRequest{PipelineID: id, Version: version, Selector: sel, Strategy: strategy, Steps: steps}
			if pause != 0 {
				body.Pause = pause.String()
			}
			b, err := json.Marshal(body)
			if err != nil {
				return fmt.Errorf("encode rollout: %w", err)
			}
			path := "/api/v1/rollouts"
			if team != "" {
				path += "?team=" + url.QueryEscape(team)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var ro apiv1.Rollout
			if err := g.Client().Do(ctx, "POST", path, bytes.NewReader(b), &ro); err != nil {
				return err
			}
			return renderRollout(cmd.OutOrStdout(), g.Output, ro)
		},
	}
	c.Flags().StringVar(&pipeline, "pipeline", "", "pipeline id, optionally @version (default: the latest version)")
	c.Flags().StringVar(&selector, "selector", "", "agent labels that must all match, k=v[,k=v]")
	c.Flags().StringVar(&strategy, "strategy", "", "all (default) or staged")
	c.Flags().IntSliceVar(&steps, "steps", nil, "percent of the agents per step, rising to at most 100 (staged), e.g. 10,50,100")
	c.Flags().DurationVar(&pause, "pause", 0, "wait after each step (staged), e.g. 30s")
	c.Flags().StringVar(&team, "team", "", "owning team (default: your first team)")
	return c
}

func rolloutListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List rollouts with their state and progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			path := "/api/v1/rollouts"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.Rollout]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "TEAM", "PIPELINE", "SELECTOR", "STRATEGY", "STATE", "STEP", "AGENTS", "UPDATED")
				for _, r := range out.Items {
					output.Row(tw, r.ID, r.Team, pipelineRef(r), selectorString(r.Selector), r.Strategy, r.State,
						stepString(r), len(r.Progress.Agents), r.UpdatedAt.Format(time.RFC3339))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this rollout id")
	return c
}

func rolloutGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one rollout: state, step and agents",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var ro apiv1.Rollout
			if err := g.Client().Do(ctx, "GET", rolloutPath(args[0]), nil, &ro); err != nil {
				return err
			}
			return renderRollout(cmd.OutOrStdout(), g.Output, ro)
		},
	}
}

func rolloutAbortCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "abort ID",
		Short: "Stop a rolling rollout; its agents get their previous configs back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var ro apiv1.Rollout
			if err := g.Client().Do(ctx, "POST", rolloutPath(args[0], "abort"), nil, &ro); err != nil {
				return err
			}
			return renderRollout(cmd.OutOrStdout(), g.Output, ro)
		},
	}
}

func pipelineRef(r apiv1.Rollout) string { return r.PipelineID + "@" + strconv.Itoa(r.PipelineVersion) }

// selectorString is k=v,k=v sorted by key, as --selector takes it.
func selectorString(sel map[string]string) string {
	kv := make([]string, 0, len(sel))
	for k, v := range sel {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// stepString is the current step as "2/3 (50%)" for a staged rollout,
// "-" for all at once.
func stepString(r apiv1.Rollout) string {
	if len(r.Steps) == 0 {
		return "-"
	}
	i := min(max(r.Progress.Step, 0), len(r.Steps)-1)
	s := fmt.Sprintf("%d/%d (%d%%)", i+1, len(r.Steps), r.Steps[i])
	if r.Progress.Pausing {
		s += " pausing"
	}
	return s
}

func renderRollout(w io.Writer, format string, r apiv1.Rollout) error {
	return output.Render(w, format, r, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", r.ID)
		output.Row(tw, "TEAM", r.Team)
		output.Row(tw, "PIPELINE", pipelineRef(r))
		output.Row(tw, "SELECTOR", selectorString(r.Selector))
		output.Row(tw, "STRATEGY", r.Strategy)
		if len(r.Steps) > 0 {
			steps := make([]string, len(r.Steps))
			for i, s := range r.Steps {
				steps[i] = strconv.Itoa(s) + "%"
			}
			output.Row(tw, "STEPS", strings.Join(steps, ","))
			output.Row(tw, "STEP", stepString(r))
		}
		if r.Pause != "" {
			output.Row(tw, "PAUSE", r.Pause)
		}
		output.Row(tw, "STATE", r.State)
		if r.Reason != "" {
			output.Row(tw, "REASON", r.Reason)
		}
		output.Row(tw, "AGENTS", len(r.Progress.Agents))
		if r.Progress.Note != "" {
			output.Row(tw, "NOTE", r.Progress.Note)
		}
		output.Row(tw, "CREATED", r.CreatedAt.Format(time.RFC3339)+" by "+r.CreatedBy)
		output.Row(tw, "UPDATED", r.UpdatedAt.Format(time.RFC3339))
	})
}
