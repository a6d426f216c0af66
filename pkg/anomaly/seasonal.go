package anomaly

import "math"

// seasonal is an additive Holt-Winters model without a trend term (a seasonal
// EWMA): prediction = level + season[pos]. The season length is given, or
// learned once from the autocorrelation of the first LearnPoints points, after
// which the learning buffer is dropped so memory stays fixed.
type seasonal struct {
	Alpha, Gamma float64
	Learn        []float64 // points kept until the season is known
	LearnPoints  int
	Period       int // 0: not yet known; -1: no season
	Season       []float64
	Pos          int
	Level        float64
	Ready        bool
	// Scale is an EWMA of |residual|, the yardstick of the residual score.
	Scale float64
	Seen  int
}

// Season lengths considered when learning, in points.
const (
	minPeriod = 4
	maxPeriod = 2048
	// acfMin is the autocorrelation a lag needs to count as a season.
	acfMin = 0.3
	// scaleAlpha is the EWMA weight of |residual|; small so that one anomaly
	// does not widen the yardstick much.
	scaleAlpha = 0.01
	// clipResid bounds how far one point can move the model, in Scales.
	clipResid = 4
	// minEarlyLearn and earlyLearnEvery: when season learning first looks,
	// and how often it looks again until LearnPoints.
	minEarlyLearn   = 200
	earlyLearnEvery = 50
	// minProminence is how far an autocorrelation peak must rise above the
	// lowest autocorrelation before it: a random walk's slowly decaying
	// autocorrelation has small bumps, a season has a valley then a peak.
	minProminence = 0.3
)

func newSeasonal(period, learnPoints int) seasonal {
	s := seasonal{Alpha: 0.05, Gamma: 0.1, LearnPoints: learnPoints, Period: period}
	if period > 0 {
		s.Season = make([]float64, period)
	}
	if period == 0 {
		s.Learn = make([]float64, 0, learnPoints)
	}
	return s
}

// seasonAt is the seasonal component expected for the next point (0 without
// a season or before it is known).
func (s *seasonal) seasonAt() float64 {
	if s.Period > 0 && s.Ready {
		return s.Season[s.Pos]
	}
	return 0
}

// observe scores v as a residual z against the model, then updates the model.
// It returns the signed residual z (0 while warming up).
func (s *seasonal) observe(v float64) float64 {
	s.Seen++
	if s.Period == 0 {
		s.Learn = append(s.Learn, v)
		n := len(s.Learn)
		switch {
		case n >= s.LearnPoints:
			// Last chance: three cycles of anything up to n/3, else no season.
			s.Period = learnPeriod(s.Learn, 3)
		case n >= minEarlyLearn && n%earlyLearnEvery == 0:
			// A clear season shows in two cycles; finding it early shortens
			// the time the z-score sees raw seasonal swings.
			s.Period = max(0, learnPeriod(s.Learn, 2))
		}
		if s.Period != 0 {
			s.initFrom(s.Learn)
			s.Learn = nil
		}
		return 0
	}
	if !s.Ready {
		// Given period (or none): start from the first value, seasons at 0.
		if s.Period > 0 && s.Season == nil {
			s.Season = make([]float64, s.Period)
		}
		s.Level, s.Ready = v, true
		s.advance()
		return 0
	}
	pred := s.Level + s.seasonAt()
	r := v - pred
	z := r / (1.2533 * math.Max(s.Scale, relFloor*math.Abs(s.Level)+tinyScale))
	// Update with the residual clipped so a spike barely moves the model,
	// while a sustained shift still pulls the level over a few dozen points.
	if s.Scale > 0 {
		lim := clipResid * s.Scale
		r = math.Max(-lim, math.Min(lim, r))
	}
	vc := pred + r
	season := s.seasonAt()
	s.Level = s.Alpha*(vc-season) + (1-s.Alpha)*s.Level
	if s.Period > 0 {
		s.Season[s.Pos] = s.Gamma*(vc-s.Level) + (1-s.Gamma)*season
	}
	a := math.Abs(r)
	if s.Scale == 0 {
		s.Scale = a
	} else {
		s.Scale = scaleAlpha*a + (1-scaleAlpha)*s.Scale
	}
	s.advance()
	return z
}

func (s *seasonal) advance() {
	if s.Period > 0 {
		s.Pos = (s.Pos + 1) % s.Period
	}
}

// initFrom sets level, season and scale from the learning buffer and leaves
// Pos at the phase of the next point.
func (s *seasonal) initFrom(xs []float64) {
	s.Ready = true
	n := len(xs)
	if s.Period <= 0 {
		s.Level = xs[n-1]
		s.Scale = meanAbsDiff(xs)
		return
	}
	p := s.Period
	s.Season = make([]float64, p)
	cycles := n / p
	start := n - cycles*p // align so the last cycle ends at the last point
	counts := make([]int, p)
	for c := range cycles {
		cyc := xs[start+c*p : start+(c+1)*p]
		var mean float64
		for _, x := range cyc {
			mean += x
		}
		mean /= float64(p)
		for i, x := range cyc {
			s.Season[i] += x - mean
			counts[i]++
		}
		s.Level = mean
	}
	for i := range s.Season {
		if counts[i] > 0 {
			s.Season[i] /= float64(counts[i])
		}
	}
	s.Pos = 0 // the next point starts a new cycle
	var sum float64
	last := xs[start:]
	for i, x := range last {
		sum += math.Abs(x - s.Level - s.Season[i%p])
	}
	s.Scale = sum / float64(len(last))
}

// meanAbsDiff is the mean absolute first difference, a scale for series
// without a season.
func meanAbsDiff(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var sum float64
	for i := 1; i < len(xs); i++ {
		sum += math.Abs(xs[i] - xs[i-1])
	}
	return sum / float64(len(xs)-1)
}

// learnPeriod picks the season of xs: the shortest lag whose similarity peak
// is prominent, at least acfMin, and within 10% of the best peak (a season's
// multiples peak as high as the season itself), fitting minCycles times in
// xs; -1 when there is none.
//
// Similarity at lag L is 1 - mean((x[i]-x[i-L])^2) / (2 var): the
// autocorrelation, but from differences, so it needs no mean, is not biased
// towards short lags by the number of pairs, and peaks at exactly the period
// of a periodic signal even over two cycles.
func learnPeriod(xs []float64, minCycles int) int {
	n := len(xs)
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	var v0 float64
	for _, x := range xs {
		v0 += (x - mean) * (x - mean)
	}
	v0 /= float64(n)
	if v0 == 0 || math.IsInf(v0, 0) || math.IsNaN(v0) {
		return -1
	}
	hi := min(maxPeriod, n/minCycles)
	if hi < minPeriod+1 {
		return -1
	}
	sim := make([]float64, hi+2)
	for lag := 1; lag <= hi+1 && lag < n; lag++ {
		var d float64
		for i := lag; i < n; i++ {
			d += (xs[i] - xs[i-lag]) * (xs[i] - xs[i-lag])
		}
		sim[lag] = 1 - d/float64(n-lag)/(2*v0)
	}
	var peaks []int
	top := acfMin
	low := sim[1]
	for lag := 2; lag <= hi; lag++ {
		low = math.Min(low, sim[lag])
		if lag >= minPeriod && sim[lag] >= acfMin && sim[lag]-low >= minProminence &&
			sim[lag] >= sim[lag-1] && sim[lag] >= sim[lag+1] {
			peaks = append(peaks, lag)
			top = math.Max(top, sim[lag])
		}
	}
	for _, lag := range peaks {
		if sim[lag] >= 0.9*top {
			return lag
		}
	}
	return -1
}
