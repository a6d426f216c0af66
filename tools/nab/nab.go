// Package nab scores anomaly detections with the Numenta Anomaly Benchmark's
// standard profile (github.com/numenta/NAB, nab/sweeper.py and runner.py):
// each labelled window counts once, earliest detection best, through a scaled
// sigmoid; detections outside windows cost A_FP each, less when just after a
// window; missed windows cost A_FN; the first 15% of a file (at most 750
// points) is probationary and not scored. Scores are normalised so that the
// null detector (never detects) scores 0 and the perfect one (detects each
// window at its first point) scores 100.
package nab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"time"
)

// Profile is a NAB cost matrix.
type Profile struct {
	TP, FP, FN float64
}

// Standard is NAB's standard profile.
var Standard = Profile{TP: 1, FP: 0.11, FN: 1}

// probationPercent is NAB's share of a file that is not scored.
const probationPercent = 0.15

// Window is a labelled anomaly window, both ends included.
type Window struct {
	Start, End time.Time
}

// Labels maps a file's path relative to the data directory
// ("realTweets/Twitter_volume_AAPL.csv") to its windows.
type Labels map[string][]Window

// nabTime is the timestamp form of NAB's label files.
const nabTime = "2006-01-02 15:04:05.999999"

// ReadLabels reads NAB's combined_windows.json.
func ReadLabels(r io.Reader) (Labels, error) {
	var raw map[string][][2]string
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	out := make(Labels, len(raw))
	for file, ws := range raw {
		out[file] = make([]Window, 0, len(ws)) // files without windows are scored too
		for i, w := range ws {
			start, err := time.Parse(nabTime, w[0])
			if err != nil {
				return nil, fmt.Errorf("read windows: %s window %d start: %w", file, i, err)
			}
			end, err := time.Parse(nabTime, w[1])
			if err != nil {
				return nil, fmt.Errorf("read windows: %s window %d end: %w", file, i, err)
			}
			out[file] = append(out[file], Window{Start: start, End: end})
		}
		sort.Slice(out[file], func(a, b int) bool { return out[file][a].Start.Before(out[file][b].Start) })
	}
	return out, nil
}

// ReadLabelsFile reads a combined_windows.json file.
func ReadLabelsFile(path string) (Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	defer f.Close()
	return ReadLabels(f)
}

// Result is one file's (or a sum of files') raw score and counts.
type Result struct {
	Score      float64
	Windows    int // labelled windows
	TP, FP, FN int // detected windows, detections outside windows, missed windows
}

// Add sums results.
func (r *Result) Add(o Result) {
	r.Score += o.Score
	r.Windows += o.Windows
	r.TP += o.TP
	r.FP += o.FP
	r.FN += o.FN
}

// Normalized is 100*(score-null)/(perfect-null) with null = -A_FN per window
// and perfect = A_TP per window, as NAB's runner.normalize computes it. It is
// NaN when there are no windows (no anomaly to find: only the raw score,
// the FP cost, says anything).
func (r Result) Normalized(p Profile) float64 {
	null := -p.FN * float64(r.Windows)
	perfect := p.TP * float64(r.Windows)
	if perfect == null {
		return math.NaN()
	}
	return 100 * (r.Score - null) / (perfect - null)
}

// scaledSigmoid is NAB's: 2*sigmoid(-5x)-1, and -1 well past a window.
func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// Score scores one file: ts are its timestamps in order, detected whether
// the detector raised an anomaly at each, windows its labels.
func Score(ts []time.Time, detected []bool, windows []Window, p Profile) (Result, error) {
	n := len(ts)
	if len(detected) != n {
		return Result{}, fmt.Errorf("score: %d timestamps, %d detections", n, len(detected))
	}
	// Window index ranges: first and last timestamp inside each window.
	type span struct{ l, r int }
	spans := make([]span, 0, len(windows))
	for _, w := range windows {
		l := sort.Search(n, func(i int) bool { return !ts[i].Before(w.Start) })
		r := sort.Search(n, func(i int) bool { return ts[i].After(w.End) }) - 1
		if l > r {
			return Result{}, fmt.Errorf("score: window %s..%s holds no point", w.Start, w.End)
		}
		spans = append(spans, span{l, r})
	}
	probation := int(math.Min(math.Floor(probationPercent*float64(n)), probationPercent*5000))
	maxTP := scaledSigmoid(-1)

	res := Result{Windows: len(windows)}
	best := make([]float64, len(spans)) // per window: best weighted TP, or -A_FN
	hit := make([]bool, len(spans))
	for k := range best {
		best[k] = -p.FN
	}
	var fp float64
	cur, prev := -1, -1 // window we are in, last window we left
	next := 0
	for i := range n {
		if cur < 0 && next < len(spans) && i == spans[next].l {
			cur = next
			next++
		}
		if i >= probation && detected[i] {
			if cur >= 0 {
				w := float64(spans[cur].r - spans[cur].l + 1)
				pos := -float64(spans[cur].r-i+1) / w
				best[cur] = math.Max(best[cur], scaledSigmoid(pos)*p.TP/maxTP)
				hit[cur] = true
			} else {
				unweighted := -1.0
				if prev >= 0 {
					w := float64(spans[prev].r - spans[prev].l + 1)
					// NAB divides by width-1; a one-point window counts as far.
					if w > 1 {
						unweighted = scaledSigmoid(math.Abs(float64(spans[prev].r-i)) / (w - 1))
					}
				}
				fp += unweighted * p.FP
				res.FP++
			}
		}
		if cur >= 0 && i == spans[cur].r {
			prev, cur = cur, -1
		}
	}
	res.Score = fp
	for k, b := range best {
		res.Score += b
		if hit[k] {
			res.TP++
		} else {
			res.FN++
		}
	}
	return res, nil
}
