package anomaly

import "math"

// cusum is a two-sided cumulative sum over standardised residuals: it
// accumulates small deviations that persist (a level shift, a trend change)
// which no single point makes large enough for a z-score.
type cusum struct {
	K, H     float64 // allowance and decision interval, in standard units
	Pos, Neg float64
}

// zClip bounds one point's contribution, so a lone spike is the z-score's
// business, not a change point.
const zClip = 4

func newCUSUM() cusum { return cusum{K: 2, H: 30} }

// observe adds a signed z and returns the score in [0,1]; reaching H (score 1)
// restarts the sums, so each change is raised once.
func (c *cusum) observe(z float64) float64 {
	z = math.Max(-zClip, math.Min(zClip, z))
	c.Pos = math.Max(0, c.Pos+z-c.K)
	c.Neg = math.Max(0, c.Neg-z-c.K)
	s := math.Max(c.Pos, c.Neg) / c.H
	if s >= 1 {
		c.Pos, c.Neg = 0, 0
		return 1
	}
	return clamp01(s)
}
