package forecast

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestFitRejects(t *testing.T) {
	tests := []struct {
		name    string
		y       []float64
		tooShot bool
		ok      bool
	}{
		{name: "empty", y: nil, tooShot: true},
		{name: "eleven points", y: make([]float64, MinPoints-1), tooShot: true},
		{name: "twelve points", y: make([]float64, MinPoints), ok: true},
		{name: "NaN", y: append(make([]float64, MinPoints), math.NaN())},
		{name: "Inf", y: append(make([]float64, MinPoints), math.Inf(1))},
		{name: "too long", y: make([]float64, MaxPoints+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Fit(tt.y)
			if tt.ok {
				if err != nil || m == nil {
					t.Fatalf("Fit: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Fit accepted it")
			}
			if errors.Is(err, ErrTooShort) != tt.tooShot {
				t.Fatalf("err = %v, ErrTooShort want %v", err, tt.tooShot)
			}
		})
	}
}

// noise is a deterministic pseudo-random sequence in [-1, 1].
func noise(i int) float64 {
	v := math.Sin(float64(i)*12.9898) * 43758.5453
	return 2*(v-math.Floor(v)) - 1
}

func TestTrend(t *testing.T) {
	tests := []struct {
		name  string
		y     func(i int) float64
		h     int
		truth func(i int) float64
		tol   float64 // relative error of the point forecast
	}{
		{name: "linear growth", y: func(i int) float64 { return 1000 + 5*float64(i) + 10*noise(i) }, h: 24,
			truth: func(i int) float64 { return 1000 + 5*float64(i) }, tol: 0.03},
		{name: "flat", y: func(i int) float64 { return 5000 + 50*noise(i) }, h: 168,
			truth: func(int) float64 { return 5000 }, tol: 0.02},
		{name: "decline", y: func(i int) float64 { return 9000 - 20*float64(i) + 30*noise(i) }, h: 12,
			truth: func(i int) float64 { return 9000 - 20*float64(i) }, tol: 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 168
			y := make([]float64, n)
			for i := range y {
				y[i] = tt.y(i)
			}
			m, err := Fit(y)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.truth(n - 1 + tt.h)
			got := m.Predict(tt.h)
			if math.Abs(got-want)/want > tt.tol {
				t.Errorf("Predict(%d) = %.1f, want %.1f ±%.0f%% (params %+v)", tt.h, got, want, tt.tol*100, m.Params)
			}
			lo, hi := m.Interval(tt.h, 1.96)
			if want < lo || want > hi {
				t.Errorf("95%% interval [%.1f, %.1f] misses %.1f", lo, hi, want)
			}
			// The interval widens with the horizon, and Path agrees with
			// Predict and Interval.
			p, plo, phi := m.Path(tt.h, 1.96)
			if m.Spread(1) > m.Spread(tt.h) || math.Abs(p[tt.h-1]-got) > 1e-9 || math.Abs(plo[tt.h-1]-lo) > 1e-6 || math.Abs(phi[tt.h-1]-hi) > 1e-6 {
				t.Errorf("path %v [%v, %v] vs %v [%v, %v]", p[tt.h-1], plo[tt.h-1], phi[tt.h-1], got, lo, hi)
			}
		})
	}
}

// hourly reads a NAB file and averages it per hour.
func hourly(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	var cur time.Time
	var sum float64
	var n int
	for _, r := range rows[1:] {
		ts, err := time.Parse("2006-01-02 15:04:05", r[0])
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		if h := ts.Truncate(time.Hour); !h.Equal(cur) {
			if n > 0 {
				out = append(out, sum/float64(n))
			}
			cur, sum, n = h, 0, 0
		}
		sum += v
		n++
	}
	return append(out, sum/float64(n))
}

// TestCoverageOnNAB forecasts a day ahead from a week of history at every
// day of three NAB series (rolling origin) and checks how often the 95%
// interval holds the value. Measured when written: 0.97 (exchange-2_cpc),
// 0.96 (TravelTime_387), 1.00 (art_daily_small_noise); the bound leaves
// room for noise but fails when σ or the variance growth is wrong.
func TestCoverageOnNAB(t *testing.T) {
	for _, file := range []string{"exchange-2_cpc_results.csv", "TravelTime_387.csv", "art_daily_small_noise.csv"} {
		t.Run(file, func(t *testing.T) {
			y := hourly(t, "testdata/nab/"+file)
			const history, horizon = 168, 24
			var in, total int
			var width float64
			for o := history; o+horizon <= len(y); o += horizon {
				m, err := Fit(y[o-history : o])
				if err != nil {
					t.Fatal(err)
				}
				_, lo, hi := m.Path(horizon, 1.96)
				for h := range horizon {
					total++
					if v := y[o+h]; v >= lo[h] && v <= hi[h] {
						in++
					}
					width += hi[h] - lo[h]
				}
			}
			cov := float64(in) / float64(total)
			t.Logf("%s: %d forecasts, 95%% interval coverage %.3f, mean width %.4g", file, total, cov, width/float64(total))
			if cov < 0.88 {
				t.Errorf("coverage %.3f < 0.88", cov)
			}
		})
	}
}

func BenchmarkFit(b *testing.B) {
	y := make([]float64, 720)
	for i := range y {
		y[i] = 1000 + float64(i) + 10*noise(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fit(y); err != nil {
			b.Fatal(err)
		}
	}
}
