package phoenixcli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
)

func init() { commands = append(commands, anomalyCmd) }

func anomalyCmd(*Globals) *cobra.Command {
	c := &cobra.Command{Use: "anomaly", Short: "Anomaly detection over metric series"}
	c.AddCommand(anomalyDetectCmd())
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
