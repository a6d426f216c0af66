package nab

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
)

const testData = "testdata/nab"

// series returns n timestamps 5 minutes apart from t0.
func series(n int) []time.Time {
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = t0.Add(time.Duration(i) * 5 * time.Minute)
	}
	return ts
}

func window(ts []time.Time, l, r int) Window { return Window{Start: ts[l], End: ts[r]} }

func at(n int, idx ...int) []bool {
	d := make([]bool, n)
	for _, i := range idx {
		d[i] = true
	}
	return d
}

func TestScoreCases(t *testing.T) {
	ts := series(1000) // probation: the first 150 points
	ws := []Window{window(ts, 300, 399), window(ts, 500, 549)}
	tests := []struct {
		name     string
		detected []bool
		want     float64 // raw score
		tp, fp   int
	}{
		{"null", at(1000), -2, 0, 0},
		{"perfect", at(1000, 300, 500), 2, 2, 0},
		// Later detections in a detected window add nothing.
		{"perfect and more in windows", at(1000, 300, 350, 399, 500, 501), 2, 2, 0},
		// Detecting at a window's last point is barely better than missing:
		// 2*sigmoid(-5*(-1/100))-1, scaled by the first point's value.
		{"last point of window", at(1000, 399, 500), 1 + scaledSigmoid(-0.01)/scaledSigmoid(-1), 2, 0},
		{"middle of window", at(1000, 349, 500), 1 + scaledSigmoid(-0.51)/scaledSigmoid(-1), 2, 0},
		// Far from any window a false positive costs A_FP.
		{"false positive before windows", at(1000, 200), -2 - 0.11, 0, 1},
		// 100 points after a 100-point window: not yet "far" (3 widths).
		{"false positive near after a window", at(1000, 300, 500, 499), 2 + 0.11*scaledSigmoid(100.0/99), 2, 1},
		{"false positive far after a window", at(1000, 300, 500, 999), 2 - 0.11, 2, 1},
		// Just after a window it costs less: sigmoid of the distance.
		{"false positive just after window", at(1000, 300, 400, 500), 2 + 0.11*scaledSigmoid(1.0/99), 2, 1},
		// Probationary points are not scored at all.
		{"probation ignored", at(1000, 0, 10, 149), -2, 0, 0},
		{"first scored point counts", at(1000, 150), -2 - 0.11, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Score(ts, tt.detected, ws, Standard)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Score-tt.want) > 1e-9 || got.TP != tt.tp || got.FP != tt.fp || got.Windows != 2 {
				t.Fatalf("Score = %+v, want score %v tp %d fp %d", got, tt.want, tt.tp, tt.fp)
			}
		})
	}
}

func TestScoreErrors(t *testing.T) {
	ts := series(100)
	if _, err := Score(ts, at(99), nil, Standard); err == nil {
		t.Fatal("length mismatch accepted")
	}
	gap := Window{Start: ts[10].Add(time.Minute), End: ts[10].Add(2 * time.Minute)}
	if _, err := Score(ts, at(100), []Window{gap}, Standard); err == nil || !strings.Contains(err.Error(), "holds no point") {
		t.Fatalf("window between points: err = %v", err)
	}
}

// readCorpus reads the labelled files of the test corpus with their windows.
func readCorpus(t *testing.T) (Labels, map[string][]time.Time) {
	t.Helper()
	labels, err := ReadLabelsFile(filepath.Join(testData, "combined_windows.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 3 {
		t.Fatalf("%d labelled files, want 3 (files without windows count too)", len(labels))
	}
	times := map[string][]time.Time{}
	for f := range labels {
		data, err := os.Open(filepath.Join(testData, "data", f))
		if err != nil {
			t.Fatal(err)
		}
		ts, _, err := readDetections(strings.NewReader(addColumns(t, data)))
		data.Close()
		if err != nil {
			t.Fatal(err)
		}
		times[f] = ts
	}
	return labels, times
}

// addColumns turns a timestamp,value file into DetectCSV's output shape with
// every label 0, so the test reads timestamps the way Run does.
func addColumns(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i]) + ",0,0"
	}
	return strings.Join(lines, "\n")
}

// TestNullAndPerfectDetectors checks the normalisation on real NAB files: a
// detector that never fires scores 0 and one that fires at the first point
// of every window scores 100.
func TestNullAndPerfectDetectors(t *testing.T) {
	labels, times := readCorpus(t)
	detectors := map[string]struct {
		detect func(ts []time.Time, ws []Window) []bool
		want   float64
	}{
		"null": {func(ts []time.Time, _ []Window) []bool { return make([]bool, len(ts)) }, 0},
		"perfect": {func(ts []time.Time, ws []Window) []bool {
			d := make([]bool, len(ts))
			for _, w := range ws {
				for i, x := range ts {
					if !x.Before(w.Start) {
						d[i] = true
						break
					}
				}
			}
			return d
		}, 100},
	}
	for name, det := range detectors {
		t.Run(name, func(t *testing.T) {
			var total Result
			for f, ws := range labels {
				r, err := Score(times[f], det.detect(times[f], ws), ws, Standard)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				total.Add(r)
			}
			if total.Windows == 0 {
				t.Fatal("test corpus has no windows")
			}
			if got := total.Normalized(Standard); math.Abs(got-det.want) > 1e-9 {
				t.Fatalf("normalized = %v, want %v (%+v)", got, det.want, total)
			}
		})
	}
}

// TestRunEnsemble runs the real batch path over the test corpus: every file
// is scored and the ensemble finds the jump in art_daily_jumpsup.
func TestRunEnsemble(t *testing.T) {
	labels, err := ReadLabelsFile(filepath.Join(testData, "combined_windows.json"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Run(filepath.Join(testData, "data"), labels, anomaly.Settings{}, Standard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d results, want 3", len(rs))
	}
	for _, r := range rs {
		if math.IsNaN(r.Score) || r.TP+r.FN != r.Windows {
			t.Fatalf("%s: %+v", r.File, r.Result)
		}
		if r.File == "artificialWithAnomaly/art_daily_jumpsup.csv" && r.TP != 1 {
			t.Fatalf("jump not detected: %+v", r.Result)
		}
		if r.File == "artificialNoAnomaly/art_flatline.csv" && r.FP != 0 {
			t.Fatalf("flat line raised %d anomalies", r.FP)
		}
	}
	var b strings.Builder
	Report(&b, rs, Standard, map[string]bool{"realAdExchange": true})
	for _, want := range []string{"realAdExchange (held out)", "overall", "n/a"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReadLabelsErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":  `[`,
		"bad start": `{"a.csv": [["yesterday", "2014-04-10 07:15:00.000000"]]}`,
		"bad end":   `{"a.csv": [["2014-04-10 07:15:00.000000", "tomorrow"]]}`,
	} {
		if _, err := ReadLabels(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
