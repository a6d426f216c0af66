package phoenixcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, adaptiveCmd) }

// adaptiveCmd is `phoenix adaptive`: policies that switch a target between
// stored pipelines from its measured active series, and their decisions.
func adaptiveCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "adaptive",
		Short: "Adaptive control: policies that switch agents between pipelines by active series, and their decisions",
	}
	p := &cobra.Command{Use: "policy", Short: "Create, list, show, update and delete adaptive policies"}
	p.AddCommand(adaptivePolicyCreateCmd(g), adaptivePolicyListCmd(g), adaptivePolicyGetCmd(g),
		adaptivePolicyUpdateCmd(g), adaptivePolicyDeleteCmd(g))
	c.AddCommand(p, adaptiveDecisionsCmd(g))
	return c
}

// readAdaptiveSpec reads a policy spec (YAML or JSON; unknown keys are
// errors) from a file or stdin.
func readAdaptiveSpec(cmd *cobra.Command, path string) (apiv1.AdaptivePolicySpec, error) {
	var spec apiv1.AdaptivePolicySpec
	data, err := readSpec(cmd, path)
	if err != nil {
		return spec, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return spec, fmt.Errorf("parse policy %s: %w", path, err)
	}
	return spec, nil
}

func adaptivePolicyPath(id string) string { return "/api/v1/adaptive/policies/" + url.PathEscape(id) }

func adaptivePolicyCreateCmd(g *Globals) *cobra.Command {
	var file, team string
	c := &cobra.Command{
		Use:     "create -f POLICY",
		Short:   "Store an adaptive policy (off unless action is shadow or apply; every problem is listed)",
		Example: "  phoenix adaptive policy create -f projects/phoenix-cli/testdata/adaptive/policy.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/adaptive/policies"
			if team != "" {
				path += "?team=" + url.QueryEscape(team)
			}
			return sendAdaptiveSpec(cmd, g, "POST", path, file)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "policy file, YAML or JSON (- for stdin)")
	c.Flags().StringVar(&team, "team", "", "owning team (default: your first team)")
	return c
}

func adaptivePolicyListCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List adaptive policies with their action and current mode",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			path := "/api/v1/adaptive/policies"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.AdaptivePolicy]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "TEAM", "STREAM", "SELECTOR", "ACTION", "MODES", "MODE")
				for _, p := range out.Items {
					output.Row(tw, p.ID, p.Team, p.Stream, selectorString(p.Selector), actionOf(p), modeNames(p), modeOf(p))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this policy id")
	return c
}

func adaptivePolicyGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one adaptive policy: modes, bounds and the current mode",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var p apiv1.AdaptivePolicy
			if err := g.Client().Do(ctx, "GET", adaptivePolicyPath(args[0]), nil, &p); err != nil {
				return err
			}
			return renderAdaptivePolicy(cmd.OutOrStdout(), g.Output, p)
		},
	}
}

func adaptivePolicyDeleteCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an adaptive policy and its decisions (rollouts it made stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := g.Client().Do(ctx, "DELETE", adaptivePolicyPath(args[0]), nil, nil); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, map[string]any{"id": args[0], "deleted": true}, func(tw *tabwriter.Writer) {
				output.Row(tw, "deleted", args[0])
			})
		},
	}
}

func adaptiveDecisionsCmd(g *Globals) *cobra.Command {
	var (
		policy, cursor string
		limit          int
	)
	c := &cobra.Command{
		Use:   "decisions",
		Short: "List adaptive decisions, newest first: measurement, switch, reason and rollout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if policy != "" {
				q.Set("policy", policy)
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			path := "/api/v1/adaptive/decisions"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.AdaptiveDecision]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "TIME", "POLICY", "SERIES", "SWITCH", "OUTCOME", "REASON")
				for _, d := range out.Items {
					output.Row(tw, d.Time.Format(time.RFC3339), d.PolicyID, strconv.FormatFloat(d.ActiveSeries, 'f', 0, 64),
						d.From+" -> "+d.To, outcome(d), d.Reason)
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().StringVar(&policy, "policy", "", "only this policy's decisions")
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this decision id")
	return c
}

// outcome says what became of a decision: shadow, rollout id or error.
func outcome(d apiv1.AdaptiveDecision) string {
	s := ""
	switch {
	case d.Shadow:
		s = "shadow"
	case d.Applied:
		s = "rollout " + d.RolloutID
	default:
		s = "failed: " + d.Error
	}
	if d.Emergency {
		s += " (emergency)"
	}
	if d.Oscillating {
		s += fmt.Sprintf(" (oscillating: %d switches)", d.SwitchesInWindow)
	}
	return s
}

func actionOf(p apiv1.AdaptivePolicy) string {
	if p.Action == "" {
		return apiv1.AdaptiveOff
	}
	return p.Action
}

// modeOf is the current mode; before the first switch, the least strict.
func modeOf(p apiv1.AdaptivePolicy) string {
	if p.Mode == "" && len(p.Modes) > 0 {
		return p.Modes[0].Name + " (assumed)"
	}
	return p.Mode
}

func modeNames(p apiv1.AdaptivePolicy) string {
	names := make([]string, len(p.Modes))
	for i, m := range p.Modes {
		names[i] = m.Name
	}
	return strings.Join(names, ",")
}

func renderAdaptivePolicy(w io.Writer, format string, p apiv1.AdaptivePolicy) error {
	return output.Render(w, format, p, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", p.ID)
		output.Row(tw, "TEAM", p.Team)
		output.Row(tw, "STREAM", p.Stream)
		output.Row(tw, "SELECTOR", selectorString(p.Selector))
		output.Row(tw, "ACTION", actionOf(p))
		for i, m := range p.Modes {
			bound := "no upper bound"
			if m.UpTo > 0 {
				bound = "up to " + strconv.FormatFloat(m.UpTo, 'f', 0, 64) + " series"
			}
			output.Row(tw, fmt.Sprintf("MODE %d", i+1), fmt.Sprintf("%s: %s@%d, %s", m.Name, m.PipelineID, m.PipelineVersion, bound))
		}
		output.Row(tw, "CURRENT", modeOf(p))
		if p.ModeSince != nil {
			output.Row(tw, "SINCE", p.ModeSince.Format(time.RFC3339))
		}
		output.Row(tw, "VERSION", p.Version)
		output.Row(tw, "CREATED", p.CreatedAt.Format(time.RFC3339)+" by "+p.CreatedBy)
	})
}

// adaptivePolicyUpdateCmd replaces a policy's spec; with --version (the
// version read) a change made since is refused (409) instead of overwritten.
func adaptivePolicyUpdateCmd(g *Globals) *cobra.Command {
	var (
		file    string
		version int
	)
	c := &cobra.Command{
		Use:     "update ID -f POLICY",
		Short:   "Replace an adaptive policy's spec (every problem is listed)",
		Example: "  phoenix adaptive policy update ap-1 -f policy.yaml --version 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := adaptivePolicyPath(args[0])
			if version > 0 {
				path += "?version=" + strconv.Itoa(version)
			}
			return sendAdaptiveSpec(cmd, g, "PUT", path, file)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "policy file, YAML or JSON (- for stdin)")
	c.Flags().IntVar(&version, "version", 0, "the version you read; refused with 409 if the policy changed since")
	_ = c.MarkFlagRequired("file")
	return c
}

// sendAdaptiveSpec reads a policy file (unknown keys are errors and never
// reach the API), sends it with method to path and prints the stored
// policy: the body of create and update.
func sendAdaptiveSpec(cmd *cobra.Command, g *Globals, method, path, file string) error {
	spec, err := readAdaptiveSpec(cmd, file)
	if err != nil {
		return err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	var p apiv1.AdaptivePolicy
	if err := g.Client().Do(ctx, method, path, bytes.NewReader(b), &p); err != nil {
		return err
	}
	return renderAdaptivePolicy(cmd.OutOrStdout(), g.Output, p)
}
