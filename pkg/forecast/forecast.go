// Package forecast projects a regularly sampled series (a stream's active
// series, its datapoint rate) with Holt's damped linear trend, the
// additive-error exponential smoothing model ETS(A,Ad,N), and gives
// prediction intervals from the one-step residuals.
//
// The smoothing parameters are chosen on a grid by the sum of squared
// one-step errors. The damping factor φ is one of 0.8 to 0.98 (damped, as
// Hyndman and Athanasopoulos advise for long horizons: Forecasting:
// Principles and Practice, 3rd ed., section 8.2) or 1 (Holt's linear
// trend), whichever fits best; a damped trend wins ties, so a steady linear
// growth is extrapolated as such but a noisy trend is damped. The interval
// at h steps is the point forecast ± z·σ·sqrt(1 + Σ_{j<h} c_j²) with
// c_j = α + αβ·φ(1−φ^j)/(1−φ), the ETS
// forecast variance, and σ estimated from the residuals. Seasonality is not
// modelled: a daily cycle widens σ instead.
package forecast

import (
	"errors"
	"fmt"
	"math"
)

// MinPoints is the shortest history Fit accepts: with fewer points the
// trend is noise and σ is not estimable.
const MinPoints = 12

// MaxPoints bounds the history Fit reads (the grid search is O(grid·n)).
const MaxPoints = 5000

// ErrTooShort is returned for a history shorter than MinPoints.
var ErrTooShort = errors.New("forecast: history too short")

// Params are the smoothing parameters: Alpha for the level, Beta for the
// trend (as a share of the level's change, Holt's β*), Phi the damping.
type Params struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	Phi   float64 `json:"phi"`
}

// Model is a fitted series.
type Model struct {
	Params
	Level, Trend float64 // at the last observation
	Sigma        float64 // standard deviation of the one-step errors
	N            int     // points fitted
}

// grids of the parameter search.
var (
	alphas = []float64{0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	betas  = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5}
	phis   = []float64{0.8, 0.85, 0.9, 0.95, 0.98, 1}
)

// Fit fits y, oldest first, sampled at a regular step.
func Fit(y []float64) (*Model, error) {
	if len(y) < MinPoints {
		return nil, fmt.Errorf("%w: %d points, need at least %d", ErrTooShort, len(y), MinPoints)
	}
	if len(y) > MaxPoints {
		return nil, fmt.Errorf("forecast: %d points, at most %d", len(y), MaxPoints)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("forecast: point %d is %v", i, v)
		}
	}
	best := Model{N: len(y)}
	bestSSE := math.Inf(1)
	for _, a := range alphas {
		for _, b := range betas {
			for _, phi := range phis {
				p := Params{Alpha: a, Beta: b, Phi: phi}
				l, t, sse := run(y, p)
				if sse < bestSSE {
					bestSSE = sse
					best.Params, best.Level, best.Trend = p, l, t
				}
			}
		}
	}
	// One-step errors from the second point on; three parameters fitted.
	best.Sigma = math.Sqrt(bestSSE / float64(max(1, len(y)-1-3)))
	return &best, nil
}

// run smooths y with p and returns the final level and trend and the sum
// of squared one-step errors.
func run(y []float64, p Params) (level, trend, sse float64) {
	level = y[0]
	// The initial trend is the mean change over the first few steps: one
	// difference alone is mostly noise.
	k := min(len(y)-1, 5)
	trend = (y[k] - y[0]) / float64(k)
	for _, v := range y[1:] {
		pred := level + p.Phi*trend
		e := v - pred
		sse += e * e
		prev := level
		level = pred + p.Alpha*e
		trend = p.Beta*(level-prev) + (1-p.Beta)*p.Phi*trend
	}
	return level, trend, sse
}

// Predict is the point forecast h steps (h ≥ 1) after the last point.
func (m *Model) Predict(h int) float64 {
	return m.Level + m.dampSum(h)*m.Trend
}

// dampSum is φ + φ² + … + φ^h.
func (m *Model) dampSum(h int) float64 {
	if m.Phi == 1 {
		return float64(h)
	}
	return m.Phi * (1 - math.Pow(m.Phi, float64(h))) / (1 - m.Phi)
}

// Spread is the standard deviation of the h-step forecast error.
func (m *Model) Spread(h int) float64 {
	var sum float64
	for j := 1; j < h; j++ {
		c := m.Alpha + m.Alpha*m.Beta*m.dampSum(j)
		sum += c * c
	}
	return m.Sigma * math.Sqrt(1+sum)
}

// Interval is the prediction interval h steps ahead at normal quantile z
// (1.96 for 95%).
func (m *Model) Interval(h int, z float64) (lo, hi float64) {
	p, s := m.Predict(h), m.Spread(h)
	return p - z*s, p + z*s
}

// Path is the point forecast and interval for steps 1..h; Spread's sum is
// accumulated once, so a long path costs O(h).
func (m *Model) Path(h int, z float64) (point, lo, hi []float64) {
	point, lo, hi = make([]float64, h), make([]float64, h), make([]float64, h)
	var sum float64
	for i := range h {
		step := i + 1
		if step > 1 {
			c := m.Alpha + m.Alpha*m.Beta*m.dampSum(step-1)
			sum += c * c
		}
		p, s := m.Predict(step), m.Sigma*math.Sqrt(1+sum)
		point[i], lo[i], hi[i] = p, p-z*s, p+z*s
	}
	return point, lo, hi
}
