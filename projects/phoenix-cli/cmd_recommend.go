package phoenixcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, recommendCmd) }

// Bounds on what `recommend` uploads.
const (
	maxUploadFiles = 500
	maxUploadFile  = 16 << 20
)

type uploadedFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func recommendCmd(g *Globals) *cobra.Command {
	var stream, dashboards, rules, model string
	var failOn float64
	c := &cobra.Command{
		Use:   "recommend",
		Short: "Ranked cost-cutting rules for a stream, never touching what your dashboards and alert rules use",
		Example: `  phoenix recommend --stream default --dashboards ./grafana --rules ./prometheus/rules --model datadog
  phoenix recommend --stream default -o json
  phoenix recommend --stream default --model datadog --fail-on 500   # exit 1 when a cut would save more than 500/month`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if failOn < 0 {
				return &usageError{fmt.Errorf("--fail-on must be a saving per month of 0 or more, not %g", failOn)}
			}
			dash, err := collectFiles(dashboards, ".json")
			if err != nil {
				return fmt.Errorf("--dashboards: %w", err)
			}
			rls, err := collectFiles(rules, ".yml", ".yaml")
			if err != nil {
				return fmt.Errorf("--rules: %w", err)
			}
			if len(dash)+len(rls) > maxUploadFiles {
				return fmt.Errorf("%d files: at most %d", len(dash)+len(rls), maxUploadFiles)
			}
			ctx, cancel := apiCtx(cmd)
			defer cancel()
			var raw json.RawMessage
			if len(dash)+len(rls) == 0 {
				q := url.Values{"stream": {stream}}
				if model != "" {
					q.Set("model", model)
				}
				err = g.Client().Do(ctx, "GET", "/api/v1/recommendations?"+q.Encode(), nil, &raw)
			} else {
				body, _ := json.Marshal(map[string]any{"stream": stream, "model": model, "dashboards": dash, "rules": rls})
				err = g.Client().Do(ctx, "POST", "/api/v1/recommendations", bytes.NewReader(body), &raw)
			}
			if err != nil {
				return err
			}
			var rep apiv1.Recommendations
			if err := json.Unmarshal(raw, &rep); err != nil {
				return fmt.Errorf("decode recommendations: %w", err)
			}
			if g.Output != output.Table {
				// The API's document as is, so scripts see every field.
				var generic any
				_ = json.Unmarshal(raw, &generic)
				if err := output.Render(cmd.OutOrStdout(), g.Output, generic, nil); err != nil {
					return err
				}
			} else if err := renderRecommendations(cmd, g, rep); err != nil {
				return err
			}
			if cmd.Flags().Changed("fail-on") {
				return failOnSavings(rep, failOn)
			}
			return nil
		},
	}
	c.Flags().StringVar(&stream, "stream", "default", "stream to analyse")
	c.Flags().StringVar(&dashboards, "dashboards", "", "directory of Grafana dashboard JSON files (searched recursively)")
	c.Flags().StringVar(&rules, "rules", "", "directory of Prometheus rule files (*.yml, *.yaml)")
	c.Flags().StringVar(&model, "model", "", "price model (datadog, grafana-cloud, newrelic, self-hosted, ...; default self-hosted)")
	c.Flags().Float64Var(&failOn, "fail-on", 0, "exit 1 when a recommendation's estimated monthly saving (in the model's currency) is above this; for CI gates")
	return c
}

// failOnSavings is --fail-on: an ExitFailed error naming every
// recommendation whose estimated monthly saving is above threshold. A
// saving that cannot be estimated never crosses it.
func failOnSavings(rep apiv1.Recommendations, threshold float64) error {
	var over []string
	total := 0.0
	for _, it := range rep.Items {
		if it.MonthlySavingEstimate != nil && *it.MonthlySavingEstimate > threshold {
			over = append(over, fmt.Sprintf("%s %s (%.2f)", it.Kind, orStar(it.Metric), *it.MonthlySavingEstimate))
			total += *it.MonthlySavingEstimate
		}
	}
	if len(over) == 0 {
		return nil
	}
	return &ExitError{Code: ExitFailed, Err: fmt.Errorf("--fail-on %g: %d recommendation(s) for stream %s would each save more than that per month (model %s, %.2f together): %s",
		threshold, len(over), rep.Stream, rep.Model, total, strings.Join(over, "; "))}
}

func orStar(metric string) string {
	if metric == "" {
		return "*"
	}
	return metric
}

func renderRecommendations(cmd *cobra.Command, g *Globals, rep apiv1.Recommendations) error {
	return output.Render(cmd.OutOrStdout(), g.Output, rep, func(tw *tabwriter.Writer) {
		output.Row(tw, "KIND", "METRIC", "LABELS", "SERIES", "AFTER", "SAVING/MONTH", "RISK", "ID")
		for _, it := range rep.Items {
			metric := it.Metric
			if metric == "" {
				metric = "*"
			}
			after, saving := "?", "?"
			if it.SeriesAfterEstimate != nil {
				after = fmt.Sprint(*it.SeriesAfterEstimate)
			}
			if it.MonthlySavingEstimate != nil {
				saving = fmt.Sprintf("%.2f (%s)", *it.MonthlySavingEstimate, it.Model)
			}
			output.Row(tw, it.Kind, metric, strings.Join(it.Labels, ","), it.SeriesBefore, after, saving, it.Risk, it.ID)
		}
		if rep.UnusedMetricsUnknownReason != "" {
			fmt.Fprintf(tw, "\nunused metrics: unknown (%s)\n", rep.UnusedMetricsUnknownReason)
		} else {
			fmt.Fprintf(tw, "\nunused metrics: %s\n", strings.Join(rep.UnusedMetrics, ", "))
		}
	})
}

// collectFiles reads every file under dir with one of the extensions.
func collectFiles(dir string, exts ...string) ([]uploadedFile, error) {
	if dir == "" {
		return nil, nil
	}
	var out []uploadedFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		ok := false
		for _, e := range exts {
			if strings.EqualFold(filepath.Ext(path), e) {
				ok = true
			}
		}
		if !ok {
			return nil
		}
		if len(out) >= maxUploadFiles {
			return fmt.Errorf("more than %d files", maxUploadFiles)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxUploadFile {
			return fmt.Errorf("%s: larger than %d bytes", path, maxUploadFile)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, uploadedFile{Name: rel, Content: string(data)})
		return nil
	})
	return out, err
}
