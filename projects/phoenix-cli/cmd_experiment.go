package phoenixcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/usage"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, experimentCmd) }

// Exit codes of `phoenix experiment run --wait` (ARCHITECTURE.md), so CI
// can gate on a verdict.
const (
	ExitSucceeded    = 0 // succeeded (or promoted)
	ExitFailed       = 1 // every candidate failed a criterion
	ExitInconclusive = 2 // too little data for a verdict
	ExitTrouble      = 3 // errored, cancelled, rolled back, timed out, or the API failed
)

// ExitError is an error that asks for a specific process exit status; main
// is the only caller of os.Exit and reads it with errors.As.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the status the process should exit with.
func (e *ExitError) ExitCode() int { return e.Code }

// maxPollErrors is how many polls in a row may fail (an API restart, a
// network blip) before a wait gives up.
const maxPollErrors = 5

// experimentCmd is `phoenix experiment`: the experiments API, plus run,
// which creates, starts and waits for a verdict.
func experimentCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "experiment",
		Short: "Prove a cheaper pipeline on the same traffic, then promote or roll back",
	}
	c.AddCommand(experimentCreateCmd(g), experimentListCmd(g), experimentGetCmd(g), experimentDeleteCmd(g),
		experimentEventsCmd(g), experimentResultsCmd(g), experimentWatchCmd(g), experimentRunCmd(g))
	for _, a := range []struct{ name, short string }{
		{"start", "Start a draft: it runs once its agents are free"},
		{"stop", "Cancel an experiment; its agents get their previous configs back"},
		{"approve", "Approve the promotion of a succeeded experiment (on_success: wait)"},
		{"promote", "Promote the winner of a succeeded experiment"},
		{"rollback", "Abort a promotion in progress"},
	} {
		c.AddCommand(experimentActionCmd(g, a.name, a.short))
	}
	return c
}

// readSpec reads a spec file ("-" for stdin), YAML or JSON, and returns it
// as JSON, the API's only body type. The server checks the content and
// lists every error; here only the syntax matters.
func readSpec(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("-f is required: the experiment spec (YAML or JSON), - for stdin")
	}
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	spec, err := specJSON(data)
	if err != nil {
		return nil, err
	}
	dir := "."
	if path != "-" {
		dir = filepath.Dir(path)
	}
	return usage.ResolveQuerySources(spec, dir)
}

// specJSON converts one YAML (or JSON) document to JSON.
func specJSON(data []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("spec is not valid YAML or JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, errors.New("spec must be a mapping (apiVersion, kind, metadata, spec)")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("spec cannot be sent as JSON: %w", err)
	}
	return b, nil
}

func experimentPath(id string, sub ...string) string {
	p := "/api/v1/experiments/" + url.PathEscape(id)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

func createExperiment(ctx context.Context, g *Globals, spec []byte, team string) (apiv1.Experiment, error) {
	path := "/api/v1/experiments"
	if team != "" {
		path += "?team=" + url.QueryEscape(team)
	}
	var e apiv1.Experiment
	err := g.Client().Do(ctx, "POST", path, bytes.NewReader(spec), &e)
	return e, err
}

func experimentCreateCmd(g *Globals) *cobra.Command {
	var file, team string
	c := &cobra.Command{
		Use:     "create -f SPEC",
		Short:   "Store an experiment spec as a draft (every problem of the spec is listed)",
		Example: "  phoenix experiment create -f examples/experiments/topk.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := readSpec(cmd, file)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			e, err := createExperiment(ctx, g, spec, team)
			if err != nil {
				return err
			}
			return renderExperiment(cmd.OutOrStdout(), g.Output, e)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "spec file, YAML or JSON (- for stdin)")
	c.Flags().StringVar(&team, "team", "", "owning team (default: your first team)")
	return c
}

func experimentListCmd(g *Globals) *cobra.Command {
	var (
		limit         int
		cursor, state string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List experiments with their state and verdict",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if state != "" {
				q.Set("state", state)
			}
			path := "/api/v1/experiments"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var out apiv1.List[apiv1.Experiment]
			if err := g.Client().Do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "TEAM", "STATE", "WINNER", "UPDATED")
				for _, e := range out.Items {
					winner := "-"
					if e.Results != nil && e.Results.Winner != "" {
						winner = e.Results.Winner
					}
					output.Row(tw, e.ID, e.Name, e.Team, e.State, winner, e.UpdatedAt.Format(time.RFC3339))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this experiment id")
	c.Flags().StringVar(&state, "state", "", "only experiments in this state (draft, running, succeeded, ...)")
	return c
}

func getExperiment(ctx context.Context, g *Globals, id string) (apiv1.Experiment, error) {
	var e apiv1.Experiment
	err := g.Client().Do(ctx, "GET", experimentPath(id), nil, &e)
	return e, err
}

func experimentGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one experiment: state, progress and verdict",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			e, err := getExperiment(ctx, g, args[0])
			if err != nil {
				return err
			}
			return renderExperiment(cmd.OutOrStdout(), g.Output, e)
		},
	}
}

func experimentDeleteCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a draft (a started experiment is stopped, not deleted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := g.Client().Do(ctx, "DELETE", experimentPath(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		},
	}
}

// experimentActionCmd is one of start, stop, approve, promote, rollback:
// a POST that answers the experiment after its transition.
func experimentActionCmd(g *Globals, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var e apiv1.Experiment
			if err := g.Client().Do(ctx, "POST", experimentPath(args[0], action), nil, &e); err != nil {
				return err
			}
			return renderExperiment(cmd.OutOrStdout(), g.Output, e)
		},
	}
}

func experimentEventsCmd(g *Globals) *cobra.Command {
	var (
		limit  int
		cursor string
	)
	c := &cobra.Command{
		Use:   "events ID",
		Short: "Show an experiment's transitions: who or what moved it, when and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var out apiv1.List[apiv1.ExperimentTransition]
			if err := g.Client().Do(ctx, "GET", experimentPath(args[0], "events")+pageQuery(limit, cursor), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "SEQ", "AT", "FROM", "TO", "EVENT", "ACTOR", "REASON")
				for _, t := range out.Items {
					output.Row(tw, t.Seq, t.At.Format(time.RFC3339), orDash(t.From), t.To, t.Event, orDash(t.Actor), orDash(t.Reason))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this sequence number")
	return c
}

func experimentResultsCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "results ID",
		Short: "Show the verdict: per candidate, each criterion measured against its threshold",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var res apiv1.ExperimentResults
			if err := g.Client().Do(ctx, "GET", experimentPath(args[0], "results"), nil, &res); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, res, func(tw *tabwriter.Writer) {
				verdictTable(tw, &res)
			})
		},
	}
}

// renderExperiment shows one experiment; the table has its verdict when
// there is one.
func renderExperiment(w io.Writer, format string, e apiv1.Experiment) error {
	return output.Render(w, format, e, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", e.ID)
		output.Row(tw, "NAME", e.Name)
		output.Row(tw, "TEAM", e.Team)
		output.Row(tw, "STATE", e.State)
		output.Row(tw, "AGENTS", len(e.Progress.Agents))
		if e.Progress.Note != "" {
			output.Row(tw, "NOTE", e.Progress.Note)
		}
		output.Row(tw, "CREATED", e.CreatedAt.Format(time.RFC3339)+" by "+e.CreatedBy)
		output.Row(tw, "UPDATED", e.UpdatedAt.Format(time.RFC3339))
		if e.Results != nil {
			fmt.Fprintln(tw)
			verdictTable(tw, e.Results)
		}
	})
}

// verdictTable is the verdict: the outcome and winner, then one row per
// candidate and criterion. An unmeasured value shows "-" with its reason,
// never a number.
func verdictTable(tw io.Writer, r *apiv1.ExperimentResults) {
	winner := r.Winner
	if winner == "" {
		winner = "-"
	}
	output.Row(tw, "OUTCOME", string(r.Outcome))
	output.Row(tw, "WINNER", winner)
	for _, reason := range r.Reasons {
		output.Row(tw, "REASON", reason)
	}
	fmt.Fprintln(tw)
	output.Row(tw, "CANDIDATE", "OUTCOME", "CRITERION", "MEASURED", "THRESHOLD", "RESULT")
	for _, c := range r.Candidates {
		for _, cr := range c.Criteria {
			measured := "-"
			if cr.Measured != nil {
				measured = strconv.FormatFloat(*cr.Measured, 'f', 2, 64) + "%"
			}
			result := cr.Result
			if cr.Measured == nil && cr.MeasuredUnknownReason != "" {
				result += " (" + cr.MeasuredUnknownReason + ")"
			}
			output.Row(tw, c.Name, string(c.Outcome), cr.Criterion, measured,
				cr.Comparison+" "+strconv.FormatFloat(cr.Threshold, 'f', -1, 64)+"%", result)
		}
		if len(c.Criteria) == 0 {
			output.Row(tw, c.Name, string(c.Outcome), "-", "-", "-", strings.Join(c.Reasons, "; "))
		}
	}
}

// waitOptions tune how a wait polls and shows progress.
type waitOptions struct {
	interval time.Duration
	timeout  time.Duration // 0: no limit but the context's
}

// settled reports whether a wait is over in state: a final state, or
// succeeded while the experiment waits for an approval (a promote spec
// moves on to promoting by itself).
func settled(e apiv1.Experiment) bool {
	if apiv1.ExperimentTerminal(e.State) {
		return true
	}
	return e.State == apiv1.ExperimentSucceeded && onSuccess(e) != "promote"
}

func onSuccess(e apiv1.Experiment) string {
	var doc struct {
		Spec struct {
			OnSuccess string `json:"on_success"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(e.Spec, &doc)
	return doc.Spec.OnSuccess
}

// progress shows a wait (progress.go): the experiment's id, state and
// note.
type progress struct{ *liveLine }

func newProgress(w io.Writer, start time.Time) *progress {
	return &progress{newLiveLine(w, start)}
}

func (p *progress) show(e apiv1.Experiment, now time.Time) {
	line := e.ID + " " + e.State
	if e.Progress.Note != "" {
		line += " (" + e.Progress.Note + ")"
	}
	p.liveLine.show(line, now)
}

// wait polls experiment id until it settles, showing progress on w. A
// failed poll is retried (maxPollErrors in a row end the wait); the
// timeout and the context end it with an ExitError of code ExitTrouble.
func wait(ctx context.Context, g *Globals, id string, opt waitOptions, w io.Writer) (apiv1.Experiment, error) {
	if opt.interval <= 0 {
		return apiv1.Experiment{}, fmt.Errorf("--interval must be positive, not %s", opt.interval)
	}
	if opt.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.timeout)
		defer cancel()
	}
	p := newProgress(w, time.Now())
	defer p.done()
	tick := time.NewTicker(opt.interval)
	defer tick.Stop()
	var (
		last   apiv1.Experiment
		failed int
	)
	for {
		e, err := getExperiment(ctx, g, id)
		switch {
		case err == nil:
			failed, last = 0, e
			p.show(e, time.Now())
			if settled(e) {
				return e, nil
			}
		case ctx.Err() != nil:
		default:
			// A refusal (gone, forbidden) will not change by asking
			// again; a 5xx or a network error may.
			var prob *client.Problem
			if errors.As(err, &prob) && prob.Status < 500 {
				return last, &ExitError{Code: ExitTrouble, Err: err}
			}
			if failed++; failed >= maxPollErrors {
				return last, &ExitError{Code: ExitTrouble, Err: fmt.Errorf("experiment %s: %d polls failed in a row: %w", id, failed, err)}
			}
		}
		select {
		case <-ctx.Done():
			state := last.State
			if state == "" {
				state = "unknown"
			}
			return last, &ExitError{Code: ExitTrouble, Err: fmt.Errorf("experiment %s still %s: gave up waiting (%w)", id, state, ctx.Err())}
		case <-tick.C:
		}
	}
}

func experimentWatchCmd(g *Globals) *cobra.Command {
	opt := waitOptions{}
	c := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an experiment until it settles: a spinner on a terminal, one line per change elsewhere",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Progress goes to stderr under -o json|yaml, so stdout holds
			// only the final document.
			progressOut := cmd.OutOrStdout()
			if g.Output != output.Table {
				progressOut = cmd.ErrOrStderr()
			}
			if g.Quiet {
				progressOut = io.Discard
			}
			e, err := wait(cmd.Context(), g, args[0], opt, progressOut)
			if err != nil {
				return err
			}
			return renderExperiment(cmd.OutOrStdout(), g.Output, e)
		},
	}
	c.Flags().DurationVar(&opt.interval, "interval", 2*time.Second, "poll interval")
	c.Flags().DurationVar(&opt.timeout, "timeout", 0, "give up after this long (0: never)")
	return c
}

// verdictExit maps where a run ended to its exit status: 0 succeeded or
// promoted, 1 failed, 2 inconclusive, 3 anything else.
func verdictExit(e apiv1.Experiment) error {
	switch e.State {
	case apiv1.ExperimentSucceeded, apiv1.ExperimentPromoted:
		return nil
	case apiv1.ExperimentFailed:
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("experiment %s failed%s", e.ID, failedCriteria(e))}
	case apiv1.ExperimentInconclusive:
		return &ExitError{Code: ExitInconclusive, Err: fmt.Errorf("experiment %s is inconclusive%s", e.ID, reasons(e))}
	}
	return &ExitError{Code: ExitTrouble, Err: fmt.Errorf("experiment %s ended %s%s", e.ID, e.State, reasons(e))}
}

func failedCriteria(e apiv1.Experiment) string {
	if e.Results == nil {
		return ""
	}
	var parts []string
	for _, c := range e.Results.Candidates {
		if len(c.Failed) > 0 {
			parts = append(parts, c.Name+": "+strings.Join(c.Failed, ", "))
		}
	}
	if len(parts) == 0 {
		return reasons(e)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func reasons(e apiv1.Experiment) string {
	if e.Results != nil && len(e.Results.Reasons) > 0 {
		return ": " + strings.Join(e.Results.Reasons, "; ")
	}
	if e.Progress.Note != "" {
		return ": " + e.Progress.Note
	}
	return ""
}

func experimentRunCmd(g *Globals) *cobra.Command {
	var (
		file, team string
		waitFlag   bool
		opt        = waitOptions{}
	)
	c := &cobra.Command{
		Use:   "run -f SPEC [--wait [--timeout D]]",
		Short: "Create and start an experiment; with --wait, print the verdict and exit 0 succeeded, 1 failed, 2 inconclusive, 3 error or timeout",
		Example: `  phoenix experiment run -f examples/experiments/topk.yaml --wait
  phoenix experiment run -f spec.yaml --wait --timeout 10m -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := readSpec(cmd, file)
			if err != nil {
				if waitFlag {
					// A gate: 1 and 2 mean a verdict, so no spec is 3.
					return &ExitError{Code: ExitTrouble, Err: err}
				}
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			e, err := createExperiment(ctx, g, spec, team)
			if err == nil {
				err = g.Client().Do(ctx, "POST", experimentPath(e.ID, "start"), nil, &e)
			}
			cancel()
			if err != nil {
				return &ExitError{Code: ExitTrouble, Err: err}
			}
			if !waitFlag {
				return renderExperiment(cmd.OutOrStdout(), g.Output, e)
			}
			fmt.Fprintf(g.progressOut(cmd), "experiment %s (%s) started\n", e.ID, e.Name)
			final, err := wait(cmd.Context(), g, e.ID, opt, g.progressOut(cmd))
			if err != nil {
				return err
			}
			if err := renderExperiment(cmd.OutOrStdout(), g.Output, final); err != nil {
				return &ExitError{Code: ExitTrouble, Err: err}
			}
			return verdictExit(final)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "spec file, YAML or JSON (- for stdin)")
	c.Flags().StringVar(&team, "team", "", "owning team (default: your first team)")
	c.Flags().BoolVar(&waitFlag, "wait", false, "wait for the verdict and exit with it")
	c.Flags().DurationVar(&opt.timeout, "timeout", 30*time.Minute, "with --wait: give up after this long (exit 3)")
	c.Flags().DurationVar(&opt.interval, "interval", 2*time.Second, "with --wait: poll interval")
	return c
}
