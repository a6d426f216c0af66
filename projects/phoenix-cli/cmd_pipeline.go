package phoenixcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, pipelineCmd) }

// pipelineCmd is `phoenix pipeline`: templates, generate and validate work
// offline (pkg/pipelinegen and the local phoenix-collector); the rest talk
// to the API.
func pipelineCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "pipeline",
		Short: "Generate, validate and manage collector pipelines",
	}
	c.AddCommand(pipelineTemplatesCmd(g), pipelineGenerateCmd(g), pipelineValidateCmd(g),
		pipelineListCmd(g), pipelineGetCmd(g), pipelineCreateCmd(g), pipelineUpdateCmd(g), pipelineVersionsCmd(g), pipelineDiffCmd(g), pipelineDeleteCmd(g))
	return c
}

func pipelineTemplatesCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "templates",
		Short: "List the presets and their parameters (works offline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts := pipelinegen.Templates()
			return output.Render(cmd.OutOrStdout(), g.Output, map[string]any{"items": ts, "next_cursor": nil}, func(tw *tabwriter.Writer) {
				output.Row(tw, "TEMPLATE", "RISK", "PARAMETERS", "SUMMARY")
				for _, t := range ts {
					// Names only: defaults are long regexes; -o yaml shows them.
					var ps []string
					for _, p := range t.Params {
						ps = append(ps, p.Name)
					}
					risk, _, _ := strings.Cut(t.Risk, ":")
					output.Row(tw, t.Name, risk, strings.Join(ps, ","), t.Summary)
				}
			})
		},
	}
}

// generateFlags builds a pipelinegen.Request from flags.
type generateFlags struct {
	template, target, exporter, endpoint, experiment, ingest, source, telemetry, interval, health string
	set, candidates                                                                               []string
}

func (f *generateFlags) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.template, "template", "", "preset: "+strings.Join(pipelinegen.TemplateNames(), ", "))
	fl.StringArrayVar(&f.set, "set", nil, "template parameter key=value (repeatable; see `phoenix pipeline templates`)")
	fl.StringVar(&f.target, "target", pipelinegen.TargetProduction, "production or experiment")
	fl.StringVar(&f.exporter, "exporter", "otlphttp", "production exporter: otlphttp or prometheusremotewrite")
	fl.StringVar(&f.endpoint, "endpoint", "http://127.0.0.1:4318", "production exporter endpoint")
	fl.StringVar(&f.experiment, "experiment", "", "experiment id (target experiment)")
	fl.StringVar(&f.ingest, "ingest-endpoint", "", "Phoenix ingest for experiment variants (default "+pipelinegen.DefaultIngestEndpoint+")")
	fl.StringArrayVar(&f.candidates, "candidate", nil, "experiment candidate template, optionally name=template (repeatable)")
	fl.StringVar(&f.source, "source", pipelinegen.SourceHostMetrics, "hostmetrics or otlp")
	fl.StringVar(&f.interval, "collection-interval", "", "hostmetrics collection interval (default "+pipelinegen.DefaultCollectionInterval+")")
	fl.StringVar(&f.telemetry, "telemetry-addr", "", "host:port of the collector's own metrics (default "+pipelinegen.DefaultTelemetryAddr+")")
	fl.StringVar(&f.health, "health-addr", "", "host:port for the health_check extension (the agent waits for it); empty: none")
}

func parseSet(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func (f *generateFlags) request() (pipelinegen.Request, error) {
	set, err := parseSet(f.set)
	if err != nil {
		return pipelinegen.Request{}, err
	}
	r := pipelinegen.Request{
		Source:        pipelinegen.Source{Kind: f.source, CollectionInterval: f.interval},
		TelemetryAddr: f.telemetry,
		HealthAddr:    f.health,
	}
	switch f.target {
	case pipelinegen.TargetExperiment:
		r.Target = pipelinegen.Target{Kind: pipelinegen.TargetExperiment, ExperimentID: f.experiment, IngestEndpoint: f.ingest}
		cands := f.candidates
		if f.template != "" {
			cands = append([]string{f.template}, cands...)
		}
		for i, c := range cands {
			name, tmpl, ok := strings.Cut(c, "=")
			if !ok {
				name, tmpl = "", c
			}
			v := pipelinegen.Variant{Name: name, Template: tmpl}
			if i == 0 && f.template != "" {
				v.Set = set
			}
			r.Target.Candidates = append(r.Target.Candidates, v)
		}
		if f.template == "" && len(set) > 0 {
			return r, errors.New("--set applies to --template")
		}
	default:
		r.Template, r.Set = f.template, set
		if r.Template == "" {
			return r, errors.New("--template is required (see `phoenix pipeline templates`)")
		}
		r.Target = pipelinegen.Target{Kind: f.target, Exporter: &pipelinegen.Exporter{Type: f.exporter, Endpoint: f.endpoint}}
	}
	return r, nil
}

func pipelineGenerateCmd(g *Globals) *cobra.Command {
	var f generateFlags
	var validate bool
	var bin string
	c := &cobra.Command{
		Use:   "generate",
		Short: "Generate a collector config from a preset (offline; -o yaml prints the config itself)",
		Example: `  phoenix pipeline generate --template balanced --set k=20 -o yaml > collector.yaml
  phoenix pipeline generate --target experiment --experiment exp1 --template balanced --candidate topk -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := f.request()
			if err != nil {
				return err
			}
			res, err := pipelinegen.Generate(req)
			if err != nil {
				return err
			}
			if validate {
				if err := showWhile(cmd.Context(), g.progressOut(cmd), "validating with phoenix-collector", func() error {
					return validateLocal(cmd.Context(), bin, res.Config)
				}); err != nil {
					return err
				}
			}
			if g.Output == output.JSON {
				return output.Render(cmd.OutOrStdout(), g.Output, map[string]any{
					"config": string(res.Config), "config_hash": res.ConfigHash, "pipelines": res.Variants,
				}, nil)
			}
			// table and yaml: the config itself, ready to redirect to a file.
			_, err = cmd.OutOrStdout().Write(res.Config)
			return err
		},
	}
	f.bind(c)
	c.Flags().BoolVar(&validate, "validate", false, "also validate with the local phoenix-collector")
	c.Flags().StringVar(&bin, "collector-bin", "", "phoenix-collector executable (default $PHOENIX_COLLECTOR_BIN, else beside phoenix, else on $PATH)")
	return c
}

// validateLocal runs phoenix-collector validate and turns its complaints
// into an error that lists each path.
func validateLocal(ctx context.Context, bin string, config []byte) error {
	errs, err := validateErrors(ctx, bin, config)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return rejection(errs)
	}
	return nil
}

// validateErrors runs phoenix-collector validate: the config's problems, or
// an error when the collector could not judge it.
func validateErrors(ctx context.Context, bin string, config []byte) ([]problem.FieldError, error) {
	v := pipelinegen.NewValidator(bin)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return v.Validate(ctx, config)
}

// rejection lists each problem with its path.
func rejection(errs []problem.FieldError) error {
	var b strings.Builder
	b.WriteString("the collector rejects the config:")
	for _, e := range errs {
		path := e.Path
		if path == "" {
			path = "(config)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", path, e.Message)
	}
	return errors.New(b.String())
}

// validateResult is `pipeline validate -o json|yaml`: one document whether
// the config is valid or not, so CI can turn errors into annotations.
type validateResult struct {
	File       string               `json:"file"`
	Valid      bool                 `json:"valid"`
	ConfigHash string               `json:"config_hash"`
	Errors     []problem.FieldError `json:"errors"`
}

func pipelineValidateCmd(g *Globals) *cobra.Command {
	var bin string
	c := &cobra.Command{
		Use:   "validate FILE",
		Short: "Validate a collector config with the local phoenix-collector (exit 1 when invalid, 3 when it cannot be checked)",
		Example: `  phoenix pipeline validate collector.yaml
  phoenix pipeline validate collector.yaml -o json   # {"file", "valid", "config_hash", "errors": [{"path", "message"}]}`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var errs []problem.FieldError
			err = showWhile(cmd.Context(), g.progressOut(cmd), "validating "+args[0]+" with phoenix-collector", func() error {
				var verr error
				errs, verr = validateErrors(cmd.Context(), bin, data)
				return verr
			})
			if err != nil {
				return &ExitError{Code: ExitTrouble, Err: fmt.Errorf("%s: cannot validate: %w", args[0], err)}
			}
			res := validateResult{File: args[0], Valid: len(errs) == 0, ConfigHash: pipelinegen.Hash(data), Errors: errs}
			if res.Errors == nil {
				res.Errors = []problem.FieldError{}
			}
			if g.Output == output.Table && !res.Valid {
				return fmt.Errorf("%s: %w", args[0], rejection(errs))
			}
			if err := output.Render(cmd.OutOrStdout(), g.Output, res, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s: valid\n", args[0])
			}); err != nil {
				return err
			}
			if !res.Valid {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%s: the collector rejects the config (%d problems)", args[0], len(errs))}
			}
			return nil
		},
	}
	c.Flags().StringVar(&bin, "collector-bin", "", "phoenix-collector executable (default $PHOENIX_COLLECTOR_BIN, else beside phoenix, else on $PATH)")
	return c
}

func apiCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), 60*time.Second)
}

func pipelineListCmd(g *Globals) *cobra.Command {
	var limit int
	var cursor string
	c := &cobra.Command{
		Use:   "list",
		Short: "List your teams' pipelines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var page apiv1.List[apiv1.Pipeline]
			if err := g.Client().Do(ctx, "GET", "/api/v1/pipelines?"+q.Encode(), nil, &page); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, page, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "TEAM", "VERSION", "UPDATED", "BY")
				for _, p := range page.Items {
					output.Row(tw, p.ID, p.Name, p.Team, p.Version, p.UpdatedAt, p.UpdatedBy)
				}
				if page.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *page.NextCursor)
				}
			})
		},
	}
	c.Flags().IntVar(&limit, "limit", 50, "page size (1-500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	return c
}

func pipelineGetCmd(g *Globals) *cobra.Command {
	var version int
	c := &cobra.Command{
		Use:   "get ID",
		Short: "Show a pipeline (latest version, or --version N) with its config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			path := "/api/v1/pipelines/" + url.PathEscape(args[0])
			if version > 0 {
				path += "/versions/" + strconv.Itoa(version)
			}
			var p map[string]any
			if err := g.Client().Do(ctx, "GET", path, nil, &p); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, p, func(tw *tabwriter.Writer) {
				for _, k := range []string{"id", "pipeline_id", "name", "team", "version", "created_by", "created_at", "reason", "config_hash"} {
					if v, ok := p[k]; ok {
						output.Row(tw, strings.ToUpper(k)+":", v)
					}
				}
				fmt.Fprintf(tw, "\n%v", p["config"])
			})
		},
	}
	c.Flags().IntVar(&version, "version", 0, "a specific version")
	return c
}

func pipelineCreateCmd(g *Globals) *cobra.Command {
	var f generateFlags
	var name, file, reason, team, description string
	c := &cobra.Command{
		Use:   "create",
		Short: "Store a pipeline from a config file (--file) or a preset (--template ...)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{"name": name}
			for k, v := range map[string]string{"reason": reason, "team": team, "description": description} {
				if v != "" {
					body[k] = v
				}
			}
			return submitPipeline(cmd, g, "POST", "/api/v1/pipelines", body, file, &f)
		},
	}
	f.bind(c)
	c.Flags().StringVar(&name, "name", "", "pipeline name (unique in the team)")
	c.Flags().StringVar(&file, "file", "", "collector config YAML to store instead of generating")
	c.Flags().StringVar(&reason, "reason", "", "why (kept with the version)")
	c.Flags().StringVar(&team, "team", "", "owning team (default: your first team)")
	c.Flags().StringVar(&description, "description", "", "description")
	_ = c.MarkFlagRequired("name")
	return c
}

func pipelineUpdateCmd(g *Globals) *cobra.Command {
	var f generateFlags
	var file, reason string
	var version int
	c := &cobra.Command{
		Use:   "update ID",
		Short: "Add a new version from a config file (--file) or a preset (--template ...)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			if reason != "" {
				body["reason"] = reason
			}
			if version > 0 {
				body["version"] = version
			}
			return submitPipeline(cmd, g, "PUT", "/api/v1/pipelines/"+url.PathEscape(args[0]), body, file, &f)
		},
	}
	f.bind(c)
	c.Flags().StringVar(&file, "file", "", "collector config YAML to store instead of generating")
	c.Flags().StringVar(&reason, "reason", "", "why (kept with the version)")
	c.Flags().IntVar(&version, "version", 0, "the version you changed (409 when someone added one since)")
	return c
}

func pipelineVersionsCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "versions ID",
		Short: "List a pipeline's versions (who, when, why)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var page apiv1.List[apiv1.PipelineVersion]
			if err := g.Client().Do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/versions?limit=500", nil, &page); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, page, func(tw *tabwriter.Writer) {
				output.Row(tw, "VERSION", "CREATED", "BY", "REASON", "CONFIG HASH")
				for _, v := range page.Items {
					output.Row(tw, v.Version, v.CreatedAt, v.CreatedBy, v.Reason, v.ConfigHash)
				}
			})
		},
	}
}

func pipelineDiffCmd(g *Globals) *cobra.Command {
	var from, to int
	c := &cobra.Command{
		Use:   "diff ID",
		Short: "Unified diff between two versions (default: the latest and the one before)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			q := url.Values{}
			if from > 0 {
				q.Set("from", strconv.Itoa(from))
			}
			if to > 0 {
				q.Set("to", strconv.Itoa(to))
			}
			var d apiv1.PipelineDiff
			if err := g.Client().Do(ctx, "GET", "/api/v1/pipelines/"+url.PathEscape(args[0])+"/diff?"+q.Encode(), nil, &d); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, d, func(tw *tabwriter.Writer) {
				fmt.Fprint(tw, d.Diff)
			})
		},
	}
	c.Flags().IntVar(&from, "from", 0, "older version")
	c.Flags().IntVar(&to, "to", 0, "newer version")
	return c
}

func pipelineDeleteCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a pipeline and its versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			return g.Client().Do(ctx, "DELETE", "/api/v1/pipelines/"+url.PathEscape(args[0]), nil, nil)
		},
	}
}

// submitPipeline sends a stored-pipeline body (create or new version) with
// either the config file's contents or a generate request, and prints the
// stored version.
func submitPipeline(cmd *cobra.Command, g *Globals, method, path string, body map[string]any, file string, f *generateFlags) error {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		body["config"] = string(data)
	} else {
		req, err := f.request()
		if err != nil {
			return err
		}
		body["generate"] = req
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := apiCtx(cmd)
	defer cancel()
	var p apiv1.PipelineDetail
	if err := g.Client().Do(ctx, method, path, bytes.NewReader(raw), &p); err != nil {
		return asFlags(err, pipelineFlags)
	}
	return output.Render(cmd.OutOrStdout(), g.Output, p, func(tw *tabwriter.Writer) {
		output.Row(tw, "ID", "NAME", "TEAM", "VERSION", "CONFIG HASH")
		output.Row(tw, p.ID, p.Name, p.Team, p.Version, p.ConfigHash)
	})
}
