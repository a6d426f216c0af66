package phoenixcli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, anomalyCmd) }

func anomalyCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{Use: "anomaly", Short: "Anomaly detection over metric series"}
	c.AddCommand(anomalyDetectCmd(), anomalyListCmd(g))
	return c
}

// anomalyDetectCmd runs the detectors the anomaly-detector service uses over
// one series read from a file: the same code path as streaming, so a score
// here is the score the service would give.
func anomalyDetectCmd() *cobra.Command {
	var input string
	var s anomaly.Settings
	c := &cobra.Command{
		Use:   "detect",
		Short: "Score a timestamp,value CSV series; writes timestamp,value,anomaly_score,label to stdout",
		Example: `  phoenix anomaly detect --input series.csv > scored.csv
  cat series.csv | phoenix anomaly detect --input - --season 288`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return fmt.Errorf("--input is required (a CSV file with a timestamp,value header, or - for stdin)")
			}
			var r io.Reader = cmd.InOrStdin()
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("--input: %w", err)
				}
				defer f.Close()
				r = f
			}
			if err := anomaly.DetectCSV(r, cmd.OutOrStdout(), s); err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "CSV file with a timestamp,value header (- for stdin)")
	c.Flags().IntVar(&s.Season, "season", 0, "season length in points: 0 learns it, -1 for none")
	c.Flags().Float64Var(&s.Threshold, "threshold", 0, fmt.Sprintf("score at or above which a point is labelled (0: default %.1f)", anomaly.DefaultThreshold))
	c.Flags().IntVar(&s.Refractory, "refractory", 0, fmt.Sprintf("points after an anomaly with no new one (0: default %d, -1: off)", anomaly.DefaultRefractory))
	c.Flags().Float64Var(&s.MaxTail, "max-tail", 0, fmt.Sprintf("largest share of recent scores as high as a labelled point's (0: default %.2f, 1: off)", anomaly.DefaultMaxTail))
	return c
}

// anomalyListCmd is `phoenix anomaly list`: the anomaly detector's recent
// scored points of one stream (GET /api/v1/anomalies).
func anomalyListCmd(g *Globals) *cobra.Command {
	var (
		stream, since, cursor string
		minScore              float64
		limit                 int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List the detector's recent scores of a stream's signals, newest first",
		Example: `  phoenix anomaly list --stream checkout --since 30m --min-score 0.5
  phoenix anomaly list --stream checkout -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stream == "" {
				return fmt.Errorf("--stream is required")
			}
			if minScore < 0 || minScore > 1 {
				return fmt.Errorf("--min-score must be in [0, 1], got %g", minScore)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q := url.Values{"stream": {stream}}
			if since != "" {
				q.Set("since", since)
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if minScore > 0 {
				q.Set("min_score", strconv.FormatFloat(minScore, 'g', -1, 64))
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			var out apiv1.List[apiv1.AnomalyPoint]
			if err := g.Client().Do(ctx, "GET", "/api/v1/anomalies?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "TIME", "SIGNAL", "VALUE", "SCORE", "ABOVE", "LABELLED", "ROBUST_Z", "SEASONAL", "CUSUM", "FOREST")
				for _, p := range out.Items {
					c := p.Components
					output.Row(tw, p.Time.Format(time.RFC3339), p.Signal, strconv.FormatFloat(p.Value, 'g', 6, 64),
						fmt.Sprintf("%.3f", p.Score), strconv.FormatBool(p.AboveThreshold), strconv.FormatBool(p.Labelled),
						fmt.Sprintf("%.3f", c.RobustZ), fmt.Sprintf("%.3f", c.Seasonal), fmt.Sprintf("%.3f", c.CUSUM), fmt.Sprintf("%.3f", c.Forest))
				}
				if out.NextCursor != nil {
					fmt.Fprintf(tw, "more: --cursor %s\n", *out.NextCursor)
				}
			})
		},
	}
	c.Flags().StringVar(&stream, "stream", "", "stream whose scores to list (required)")
	c.Flags().StringVar(&since, "since", "", "only rollups at or after this RFC 3339 time or duration ago (e.g. 1h)")
	c.Flags().Float64Var(&minScore, "min-score", 0, "only points scored at least this (0..1)")
	c.Flags().IntVar(&limit, "limit", 0, "page size (default 50, max 500)")
	c.Flags().StringVar(&cursor, "cursor", "", "continue after this point (next_cursor of the previous page)")
	return c
}
