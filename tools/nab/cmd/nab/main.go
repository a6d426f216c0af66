// Command nab runs Phoenix's anomaly ensemble over the NAB corpus with its
// default settings and prints the standard-profile score per category and
// overall. Usage: nab -data /path/to/nab [-v].
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/tools/nab"
)

// heldOut are the categories no setting was tuned on (docs/anomaly.md).
const heldOut = "realTraffic,realTweets"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nab:", err)
		os.Exit(1)
	}
}

func run() error {
	data := flag.String("data", "", "NAB directory holding data/ and combined_windows.json")
	verbose := flag.Bool("v", false, "print every file's score")
	var s anomaly.Settings
	flag.IntVar(&s.Refractory, "refractory", 0, "override Settings.Refractory (experiments only)")
	flag.Float64Var(&s.Threshold, "threshold", 0, "override Settings.Threshold (experiments only)")
	flag.Float64Var(&s.MaxTail, "max-tail", 0, "override Settings.MaxTail (experiments only)")
	flag.Parse()
	if *data == "" {
		return fmt.Errorf("-data is required")
	}
	labels, err := nab.ReadLabelsFile(filepath.Join(*data, "combined_windows.json"))
	if err != nil {
		return err
	}
	rs, err := nab.Run(filepath.Join(*data, "data"), labels, s, nab.Standard)
	if err != nil {
		return err
	}
	if *verbose {
		for _, r := range rs {
			fmt.Printf("%-60s %8.2f %9s TP=%d FN=%d FP=%d\n", r.File, r.Score, fmtNorm(r.Normalized(nab.Standard)), r.TP, r.FN, r.FP)
		}
		fmt.Println()
	}
	held := map[string]bool{}
	for _, c := range strings.Split(heldOut, ",") {
		held[c] = true
	}
	nab.Report(os.Stdout, rs, nab.Standard, held)
	return nil
}

func fmtNorm(x float64) string {
	if x != x {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", x)
}
