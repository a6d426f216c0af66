package nab

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
)

// FileResult is one data file's score.
type FileResult struct {
	File     string // relative to the data directory, as in the labels
	Category string
	Result
}

// Run runs anomaly.DetectCSV (the batch path of `phoenix anomaly detect`)
// over every labelled file under dataDir and scores its label column. Files
// are processed in sorted order so runs are reproducible.
func Run(dataDir string, labels Labels, s anomaly.Settings, p Profile) ([]FileResult, error) {
	files := make([]string, 0, len(labels))
	for f := range labels {
		files = append(files, f)
	}
	sort.Strings(files)
	out := make([]FileResult, 0, len(files))
	for _, f := range files {
		in, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil {
			return nil, fmt.Errorf("nab: %w", err)
		}
		var det bytes.Buffer
		if err := anomaly.DetectCSV(bytes.NewReader(in), &det, s); err != nil {
			return nil, fmt.Errorf("nab: %s: %w", f, err)
		}
		ts, detected, err := readDetections(&det)
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", f, err)
		}
		r, err := Score(ts, detected, labels[f], p)
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", f, err)
		}
		out = append(out, FileResult{File: f, Category: filepath.Dir(f), Result: r})
	}
	return out, nil
}

// readDetections reads DetectCSV's output: timestamp and label columns.
func readDetections(r io.Reader) ([]time.Time, []bool, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("read detections: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("read detections: no header")
	}
	ts := make([]time.Time, 0, len(rows)-1)
	det := make([]bool, 0, len(rows)-1)
	for i, row := range rows[1:] {
		t, err := anomaly.ParseTime(row[0])
		if err != nil {
			return nil, nil, fmt.Errorf("read detections: row %d: %w", i+2, err)
		}
		ts = append(ts, t)
		det = append(det, row[3] == "1")
	}
	return ts, det, nil
}

// ByCategory sums file results per category, in sorted order, and overall.
func ByCategory(rs []FileResult) (cats []FileResult, total Result) {
	sums := map[string]*FileResult{}
	for _, r := range rs {
		c := sums[r.Category]
		if c == nil {
			c = &FileResult{Category: r.Category}
			sums[r.Category] = c
		}
		c.Add(r.Result)
		total.Add(r.Result)
	}
	for _, c := range sums {
		cats = append(cats, *c)
	}
	sort.Slice(cats, func(a, b int) bool { return cats[a].Category < cats[b].Category })
	return cats, total
}

// Report writes the per-category table and the overall line.
func Report(w io.Writer, rs []FileResult, p Profile, heldOut map[string]bool) {
	cats, total := ByCategory(rs)
	fmt.Fprintf(w, "%-24s %6s %8s %9s %4s %4s %4s\n", "category", "files", "raw", "standard", "TP", "FN", "FP")
	var tuned, held Result
	for _, c := range cats {
		files := 0
		for _, r := range rs {
			if r.Category == c.Category {
				files++
			}
		}
		name := c.Category
		if heldOut[name] {
			name += " (held out)"
			held.Add(c.Result)
		} else {
			tuned.Add(c.Result)
		}
		fmt.Fprintf(w, "%-24s %6d %8.2f %9s %4d %4d %4d\n", name, files, c.Score, fmtScore(c.Normalized(p)), c.TP, c.FN, c.FP)
	}
	if len(heldOut) > 0 {
		fmt.Fprintf(w, "%-24s %6s %8.2f %9s\n", "tuned categories", "", tuned.Score, fmtScore(tuned.Normalized(p)))
		fmt.Fprintf(w, "%-24s %6s %8.2f %9s\n", "held-out categories", "", held.Score, fmtScore(held.Normalized(p)))
	}
	fmt.Fprintf(w, "%-24s %6d %8.2f %9s %4d %4d %4d\n", "overall", len(rs), total.Score, fmtScore(total.Normalized(p)), total.TP, total.FN, total.FP)
}

func fmtScore(x float64) string {
	if x != x { // NaN: no windows to normalise by
		return "n/a"
	}
	return strings.TrimSpace(fmt.Sprintf("%.1f", x))
}
