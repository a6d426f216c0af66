package anomaly

import "math"

// robustZ scores a value by its distance from the rolling median, in units of
// the rolling MAD (scaled to a standard deviation). Median and MAD ignore the
// outliers they are meant to find, unlike a mean and a standard deviation.
type robustZ struct {
	Win ring
	// scratch is reused for order statistics; it is not state.
	scratch []float64
}

func newRobustZ(window int) robustZ {
	return robustZ{Win: newRing(window), scratch: make([]float64, 0, window)}
}

const (
	// minRobustPoints is how many points the window needs before it scores.
	minRobustPoints = 32
	// relFloor is the smallest scale, relative to the level, that z-scores
	// divide by; tinyScale keeps a series at 0 from dividing by 0.
	relFloor  = 0.01
	tinyScale = 1e-9
)

// z returns the signed robust z-score of v against the window (0 while warming
// up) without adding v.
func (d *robustZ) z(v float64) float64 {
	vals := d.Win.values()
	if len(vals) < minRobustPoints {
		return 0
	}
	d.scratch = append(d.scratch[:0], vals...)
	med := median(d.scratch)
	for i, x := range d.scratch {
		d.scratch[i] = math.Abs(x - med)
	}
	mad := median(d.scratch)
	// A scale below relFloor of the level is measurement noise, not spread:
	// without the floor a noise-free series turns rounding into outliers.
	scale := math.Max(1.4826*mad, relFloor*math.Abs(med))
	if scale <= 0 {
		// More than half the window is one value (a flat or quantised
		// series): fall back to the mean absolute deviation, and to a
		// relative epsilon when the window is perfectly flat, so that any
		// change from a flat line still stands out without dividing by 0.
		var sum float64
		for _, x := range d.scratch {
			sum += x
		}
		scale = 1.2533 * sum / float64(len(d.scratch))
		if scale <= 0 {
			scale = 1e-6 * math.Max(1, math.Abs(med))
		}
	}
	return (v - med) / scale
}

func (d *robustZ) add(v float64) { d.Win.push(v) }

// zScore maps |z| to [0,1]: nothing below zLow, certain above zLow+zSpan.
func zScore(z float64, zLow, zSpan float64) float64 {
	return clamp01((math.Abs(z) - zLow) / zSpan)
}
