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
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, loadsimCmd) }

func loadsimCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "loadsim",
		Short: "Synthetic host process metrics, shaped like the hostmetrics process scraper",
		Long: "Simulate a fleet of hosts whose processes emit process.* metrics exactly as the OpenTelemetry\n" +
			"hostmetrics receiver (process scraper) plus resourcedetection (system) do, and send them over OTLP.\n" +
			"`run` simulates locally; `start`, `list`, `get` and `stop` manage simulations run by the server.",
	}
	c.AddCommand(loadsimRunCmd(g), loadsimProfilesCmd(g), loadsimStartCmd(g), loadsimListCmd(g), loadsimGetCmd(g), loadsimStopCmd(g))
	return c
}

// loadsimRunOptions are `phoenix loadsim run`'s flags.
type loadsimRunOptions struct {
	profile     string
	profileFile string
	hosts       int
	target      string
	protocol    string
	duration    time.Duration
	interval    time.Duration
	seed        int64
	maxDPS      float64
	headers     []string
	token       string
	quiet       bool
}

// loadsimPlan is a validated run: everything built, nothing sent.
type loadsimPlan struct {
	sim    *loadgen.Simulation
	target loadgen.Target
	exp    loadgen.ExporterOptions
	run    loadgen.RunConfig
}

// plan checks every flag, reporting all problems at once.
func (o *loadsimRunOptions) plan(seedSet bool, now time.Time) (*loadsimPlan, error) {
	var errs []error
	var profile *loadgen.Profile
	switch {
	case o.profile == loadgen.ProfileCustom || (o.profileFile != "" && o.profile == ""):
		if o.profileFile == "" {
			errs = append(errs, errors.New("--profile custom needs --profile-file FILE (YAML of process patterns)"))
			break
		}
		raw, err := os.ReadFile(o.profileFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--profile-file: %w", err))
			break
		}
		p, err := loadgen.ParseCustom(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("--profile-file %s: %w", o.profileFile, err))
			break
		}
		profile = p
	case o.profileFile != "":
		errs = append(errs, fmt.Errorf("--profile-file is only for --profile custom (got --profile %s)", o.profile))
	default:
		p, err := loadgen.Builtin(o.profile)
		if err != nil {
			errs = append(errs, fmt.Errorf("--profile: %w", err))
		}
		profile = p
	}
	if o.hosts < 1 {
		errs = append(errs, fmt.Errorf("--hosts: must be at least 1, got %d", o.hosts))
	}
	target, err := loadgen.ParseTarget(o.target, o.protocol)
	if err != nil {
		errs = append(errs, fmt.Errorf("--target: %w", err))
	}
	if o.duration < 0 {
		errs = append(errs, fmt.Errorf("--duration: must not be negative, got %s", o.duration))
	}
	if o.interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--interval: must be at least 100ms, got %s", o.interval))
	}
	if o.maxDPS < 0 {
		errs = append(errs, errors.New("--max-dps: must not be negative"))
	}
	headers := map[string]string{}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("--header %q: want KEY=VALUE", h))
			continue
		}
		headers[strings.TrimSpace(k)] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !seedSet {
		o.seed = now.UnixNano()
	}
	sim, err := loadgen.New(loadgen.Config{Profile: profile, Hosts: o.hosts, Seed: o.seed, Start: now})
	if err != nil {
		return nil, err
	}
	return &loadsimPlan{
		sim: sim, target: target,
		exp: loadgen.ExporterOptions{Headers: headers, Token: o.token},
		run: loadgen.RunConfig{Interval: o.interval, Duration: o.duration, MaxDatapointsPerSecond: o.maxDPS},
	}, nil
}

// loadsimSummary is the final report of a local run.
type loadsimSummary struct {
	Profile  string        `json:"profile"`
	Hosts    int           `json:"hosts"`
	Target   string        `json:"target"`
	Seed     int64         `json:"seed"`
	Interval string        `json:"interval"`
	Duration string        `json:"duration"`
	Error    string        `json:"error,omitempty"`
	Stats    loadgen.Stats `json:"stats"`
}

func loadsimRunCmd(g *Globals) *cobra.Command {
	o := &loadsimRunOptions{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Simulate hosts locally and send their process metrics to an OTLP target",
		Example: "  phoenix loadsim run --profile realistic --hosts 5 --target http://127.0.0.1:14318 --duration 10m\n" +
			"  phoenix loadsim run --profile custom --profile-file fleet.yaml --hosts 2 --target grpc://127.0.0.1:4317 --seed 7 -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.plan(cmd.Flags().Changed("seed"), time.Now())
			if err != nil {
				return err
			}
			exp, err := loadgen.NewExporter(p.target, p.exp)
			if err != nil {
				return err
			}
			defer exp.Close()
			errOut := cmd.ErrOrStderr()
			// On a terminal the progress line is redrawn in place; in CI
			// logs and pipes each report is its own line.
			tty := isTerminal(errOut)
			if !o.quiet && !g.Quiet {
				if tty {
					defer fmt.Fprintln(errOut)
				}
				p.run.Progress = func(st loadgen.Stats) {
					if tty {
						fmt.Fprintf(errOut, "\r\033[K%s", progressLine(st))
						return
					}
					fmt.Fprintln(errOut, progressLine(st))
				}
				fmt.Fprintf(errOut, "loadsim: %s profile, %d hosts, seed %d, every %s to %s\n",
					p.sim.Config().Profile.Name, o.hosts, o.seed, o.interval, p.target)
			}
			runner, err := loadgen.NewRunner(p.sim, exp, p.run)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, runErr := runner.Run(ctx)
			sum := loadsimSummary{
				Profile: p.sim.Config().Profile.Name, Hosts: o.hosts, Target: p.target.String(), Seed: o.seed,
				Interval: o.interval.String(), Duration: o.duration.String(), Stats: st,
			}
			if runErr != nil {
				sum.Error = runErr.Error()
			}
			if err := renderSummary(cmd.OutOrStdout(), g.Output, sum); err != nil {
				return err
			}
			return runErr
		},
	}
	f := c.Flags()
	f.StringVar(&o.profile, "profile", loadgen.ProfileRealistic, "profile: "+strings.Join(loadgen.ProfileNames(), ", "))
	f.StringVar(&o.profileFile, "profile-file", "", "YAML of process patterns for --profile custom")
	f.IntVar(&o.hosts, "hosts", 1, "number of simulated hosts")
	f.StringVar(&o.target, "target", "", "OTLP target: http(s)://host:port[/path], grpc(s)://host:port, or host:port with --protocol")
	f.StringVar(&o.protocol, "protocol", "", "http or grpc, for a target without a scheme")
	f.DurationVar(&o.duration, "duration", 0, "how long to run; 0 runs until interrupted")
	f.DurationVar(&o.interval, "interval", loadgen.DefaultInterval, "scrape interval")
	f.Int64Var(&o.seed, "seed", 0, "random seed; the same seed gives the same hosts and processes (default: time-based, printed)")
	f.Float64Var(&o.maxDPS, "max-dps", 0, "cap on datapoints sent per second; 0 = no cap")
	f.StringArrayVar(&o.headers, "header", nil, "extra request header KEY=VALUE (repeatable), e.g. X-Phoenix-Stream=loadsim")
	f.StringVar(&o.token, "token", "", "bearer token sent to the target (e.g. a phx_ ingest key)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines on stderr")
	_ = c.MarkFlagRequired("target")
	return c
}

func progressLine(st loadgen.Stats) string {
	line := fmt.Sprintf("loadsim: %s scrapes %d | processes %d (started %d) | sent %d dp (%.0f dp/s) | failed %d dp | retries %d",
		st.Elapsed.Truncate(time.Second), st.Scrapes, st.ActiveProcesses, st.ProcessesStarted,
		st.DatapointsSent, st.DatapointsPerSec, st.DatapointsFailed, st.Retries)
	if st.SkippedScrapes > 0 {
		line += fmt.Sprintf(" | skipped %d scrapes (rate cap or slow target)", st.SkippedScrapes)
	}
	if st.LastError != "" {
		line += " | last error: " + st.LastError
	}
	return line
}

func renderSummary(w io.Writer, format string, s loadsimSummary) error {
	return output.Render(w, format, s, func(tw *tabwriter.Writer) {
		st := s.Stats
		output.Row(tw, "PROFILE", s.Profile)
		output.Row(tw, "HOSTS", s.Hosts)
		output.Row(tw, "TARGET", s.Target)
		output.Row(tw, "SEED", s.Seed)
		output.Row(tw, "ELAPSED", (time.Duration(st.ElapsedSeconds * float64(time.Second))).Truncate(time.Millisecond))
		output.Row(tw, "SCRAPES", fmt.Sprintf("%d (%d skipped)", st.Scrapes, st.SkippedScrapes))
		output.Row(tw, "PROCESSES STARTED", st.ProcessesStarted)
		output.Row(tw, "DATAPOINTS SENT", st.DatapointsSent)
		output.Row(tw, "DATAPOINTS FAILED", st.DatapointsFailed)
		output.Row(tw, "RATE", fmt.Sprintf("%.1f dp/s", st.DatapointsPerSec))
		output.Row(tw, "REQUESTS", fmt.Sprintf("%d (%d failed, %d retries)", st.Requests, st.RequestsFailed, st.Retries))
		if s.Error != "" {
			output.Row(tw, "ERROR", s.Error)
		} else if st.LastError != "" {
			output.Row(tw, "LAST ERROR", st.LastError)
		}
	})
}

func loadsimProfilesCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the load profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := loadgen.Profiles()
			return output.Render(cmd.OutOrStdout(), g.Output, apiv1.List[loadgen.ProfileInfo]{Items: ps}, func(tw *tabwriter.Writer) {
				output.Row(tw, "PROFILE", "PROCESSES/HOST", "PEAK", "NEW/MIN/HOST", "DESCRIPTION")
				for _, p := range ps {
					per, peak, churn := "-", "-", "-"
					if p.PerHost > 0 {
						per, peak, churn = fmt.Sprint(p.PerHost), fmt.Sprint(p.PeakPerHost), fmt.Sprint(p.ChurnPerMinute)
					}
					output.Row(tw, p.Name, per, peak, churn, p.Description)
				}
			})
		},
	}
}

func loadsimStartCmd(g *Globals) *cobra.Command {
	var (
		req         loadgen.StartRequest
		seed        int64
		profileFile string
		duration    time.Duration
		interval    time.Duration
	)
	c := &cobra.Command{
		Use:     "start",
		Short:   "Start a simulation on the server (against a target the server allows)",
		Example: "  phoenix loadsim start --profile spike --hosts 3 --target http://127.0.0.1:14318 --duration 15m",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("seed") {
				req.Seed = &seed
			}
			if profileFile != "" {
				raw, err := os.ReadFile(profileFile)
				if err != nil {
					return fmt.Errorf("--profile-file: %w", err)
				}
				req.ProfileYAML = string(raw)
			}
			req.Duration, req.Interval = duration.String(), interval.String()
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var info loadgen.SimulationInfo
			if err := g.Client().Do(ctx, "POST", "/api/v1/loadsim", bytes.NewReader(body), &info); err != nil {
				return asFlags(err, loadsimFlags)
			}
			return renderSimulations(cmd.OutOrStdout(), g.Output, info, []loadgen.SimulationInfo{info})
		},
	}
	f := c.Flags()
	f.StringVar(&req.Profile, "profile", loadgen.ProfileRealistic, "profile: "+strings.Join(loadgen.ProfileNames(), ", "))
	f.StringVar(&profileFile, "profile-file", "", "YAML of process patterns for --profile custom")
	f.IntVar(&req.Hosts, "hosts", 1, "number of simulated hosts")
	f.StringVar(&req.Target, "target", "", "OTLP target the server allows (see --loadsim-allowed-targets)")
	f.StringVar(&req.Protocol, "protocol", "", "http or grpc, for a target without a scheme")
	f.DurationVar(&duration, "duration", 10*time.Minute, "how long the server runs it")
	f.DurationVar(&interval, "interval", loadgen.DefaultInterval, "scrape interval")
	f.Int64Var(&seed, "seed", 0, "random seed (default: drawn by the server and reported)")
	f.Float64Var(&req.MaxDatapointsPerSecond, "max-dps", 0, "cap on datapoints sent per second; 0 = no cap")
	f.StringVar(&req.Team, "team", "", "owning team (default: your first team)")
	_ = c.MarkFlagRequired("target")
	return c
}

func loadsimListCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the server's simulations your teams own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var list apiv1.List[loadgen.SimulationInfo]
			if err := g.Client().Do(ctx, "GET", "/api/v1/loadsim", nil, &list); err != nil {
				return err
			}
			return renderSimulations(cmd.OutOrStdout(), g.Output, list, list.Items)
		},
	}
}

func loadsimGetCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one server simulation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var info loadgen.SimulationInfo
			if err := g.Client().Do(ctx, "GET", "/api/v1/loadsim/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			return renderSimulations(cmd.OutOrStdout(), g.Output, info, []loadgen.SimulationInfo{info})
		},
	}
}

func loadsimStopCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a server simulation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var info loadgen.SimulationInfo
			if err := g.Client().Do(ctx, "DELETE", "/api/v1/loadsim/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			return renderSimulations(cmd.OutOrStdout(), g.Output, info, []loadgen.SimulationInfo{info})
		},
	}
}

func renderSimulations(w io.Writer, format string, v any, items []loadgen.SimulationInfo) error {
	return output.Render(w, format, v, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", "STATE", "PROFILE", "HOSTS", "TARGET", "TEAM", "SENT DP", "FAILED DP", "STARTED", "ERROR")
		for _, s := range items {
			output.Row(tw, s.ID, s.State, s.Profile, s.Hosts, s.Target, s.Team, s.Stats.DatapointsSent,
				s.Stats.DatapointsFailed, s.StartedAt.Format(time.RFC3339), s.Error)
		}
	})
}
