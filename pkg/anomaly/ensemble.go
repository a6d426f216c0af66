package anomaly

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Settings configure an Ensemble. The zero value of a field means its default;
// one default configuration serves every series (see docs/anomaly.md for how
// it was chosen and what it scores on NAB).
type Settings struct {
	// Window is the robust z-score's rolling window, in points (default 256).
	Window int
	// Season is the season length in points: 0 learns it from the first
	// LearnPoints points, a negative value means the series has none.
	Season int
	// LearnPoints is how many points season learning looks at (default
	// 1000; at least three cycles of the longest season to find).
	LearnPoints int
	// Threshold is the score at or above which a point is labelled anomalous
	// (default 0.5).
	Threshold float64
	// Refractory is how many points after a raised anomaly no new one is
	// raised (default 100): one incident is one alert, not one per point.
	// Set it to -1 to label every point at or above the threshold.
	Refractory int
	// Seed seeds the isolation forest (default 1), so runs are reproducible.
	Seed uint64
	// MaxTail is the largest share of the series' recent scores (about the
	// last 2000 points) that may be at least as high as a point's score for
	// that point to be labelled (default 0.03). A series whose scores are
	// often high (bursty, heavy-tailed counts) then needs a rarer score to
	// raise an anomaly. Set it to 1 to label on the threshold alone.
	MaxTail float64
}

// Defaults.
const (
	DefaultWindow      = 256
	DefaultLearnPoints = 1000
	DefaultThreshold   = 0.5
	DefaultRefractory  = 100
	DefaultMaxTail     = 0.03
)

// Bounds that keep memory per series fixed.
const (
	maxWindow      = 4096
	maxLearnPoints = 3 * maxPeriod
)

// withDefaults fills zero fields.
func (s Settings) withDefaults() Settings {
	if s.Window == 0 {
		s.Window = DefaultWindow
	}
	if s.LearnPoints == 0 {
		s.LearnPoints = DefaultLearnPoints
	}
	if s.Threshold == 0 {
		s.Threshold = DefaultThreshold
	}
	switch {
	case s.Refractory == 0:
		s.Refractory = DefaultRefractory
	case s.Refractory < 0:
		s.Refractory = 0
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.MaxTail == 0 {
		s.MaxTail = DefaultMaxTail
	}
	return s
}

// Validate reports every problem with the settings at once.
func (s Settings) Validate() error {
	var errs []error
	if s.Window < 0 || s.Window > maxWindow {
		errs = append(errs, fmt.Errorf("window: %d not in [%d, %d]", s.Window, minRobustPoints, maxWindow))
	} else if s.Window > 0 && s.Window < minRobustPoints {
		errs = append(errs, fmt.Errorf("window: %d not in [%d, %d]", s.Window, minRobustPoints, maxWindow))
	}
	if s.Season > maxPeriod {
		errs = append(errs, fmt.Errorf("season: %d above %d", s.Season, maxPeriod))
	}
	if s.LearnPoints < 0 || s.LearnPoints > maxLearnPoints {
		errs = append(errs, fmt.Errorf("learn_points: %d not in [0, %d]", s.LearnPoints, maxLearnPoints))
	}
	if math.IsNaN(s.Threshold) || s.Threshold < 0 || s.Threshold > 1 {
		errs = append(errs, fmt.Errorf("threshold: %v not in [0, 1]", s.Threshold))
	}
	if math.IsNaN(s.MaxTail) || s.MaxTail < 0 || s.MaxTail > 1 {
		errs = append(errs, fmt.Errorf("max_tail: %v not in [0, 1]", s.MaxTail))
	}
	return errors.Join(errs...)
}

// Result is the verdict on one point.
type Result struct {
	// Score is the ensemble's anomaly score in [0,1].
	Score float64
	// Label is true when the ensemble raises an anomaly at this point: the
	// score reached the threshold outside the refractory period.
	Label bool
	// Components are each detector's own score in [0,1], for explanations.
	Components Components
}

// Components are the per-detector scores behind a Result.
type Components struct {
	RobustZ, Seasonal, CUSUM, Forest float64
}

// Ensemble runs every detector over one series and combines their scores. It
// is not safe for concurrent use; keep one per series.
type Ensemble struct {
	st state
}

// state is everything an Ensemble remembers; MarshalBinary encodes it whole.
type state struct {
	Settings Settings
	RZ       robustZ
	HW       seasonal
	CS       cusum
	IF       forest
	Points   int64 // points scored
	Skipped  int64 // non-finite values ignored
	Unsorted int64 // points whose timestamp went backwards
	Last     time.Time
	Prev     float64
	HasPrev  bool
	Quiet    int // points left in the refractory period
	Scores   scoreHist
}

// scoreHist is a decayed histogram of the ensemble's own past scores: fixed
// size, forgetting with a half-life of about 1400 points.
type scoreHist struct {
	Bins  [scoreBins]float64
	Total float64
}

const (
	scoreBins  = 64
	scoreDecay = 1 - 1.0/2000
)

func scoreBin(s float64) int { return min(int(s*scoreBins), scoreBins-1) }

// tail is the decayed share of past scores in s's bin or above.
func (h *scoreHist) tail(s float64) float64 {
	if h.Total == 0 {
		return 0
	}
	var n float64
	for _, c := range h.Bins[scoreBin(s):] {
		n += c
	}
	return n / h.Total
}

func (h *scoreHist) add(s float64) {
	for i := range h.Bins {
		h.Bins[i] *= scoreDecay
	}
	h.Bins[scoreBin(s)]++
	h.Total = h.Total*scoreDecay + 1
}

// New returns an Ensemble with the settings' defaults filled in.
func New(s Settings) (*Ensemble, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("anomaly settings: %w", err)
	}
	s = s.withDefaults()
	return &Ensemble{st: state{
		Settings: s,
		RZ:       newRobustZ(s.Window),
		HW:       newSeasonal(s.Season, s.LearnPoints),
		CS:       newCUSUM(),
		IF:       newForest(s.Seed),
	}}, nil
}

// Settings returns the settings in effect, defaults filled in.
func (e *Ensemble) Settings() Settings { return e.st.Settings }

// Stats counts what the ensemble has seen.
type Stats struct {
	Points, Skipped, Unsorted int64
}

// Stats returns the counters.
func (e *Ensemble) Stats() Stats {
	return Stats{Points: e.st.Points, Skipped: e.st.Skipped, Unsorted: e.st.Unsorted}
}

// maxMagnitude bounds input values so squares and sums of a window stay
// finite; metrics beyond 1e100 are saturated rather than poisoning the state.
const maxMagnitude = 1e100

// Observe scores the next point of the series and learns from it. Points are
// taken in arrival order: a timestamp that goes backwards is counted, not
// reordered, because rollups arrive in order and a late point is still data.
// NaN and ±Inf values score 0 and leave the state untouched.
func (e *Ensemble) Observe(ts time.Time, v float64) Result {
	st := &e.st
	if math.IsNaN(v) || math.IsInf(v, 0) {
		st.Skipped++
		return Result{}
	}
	v = math.Max(-maxMagnitude, math.Min(maxMagnitude, v))
	if !st.Last.IsZero() && ts.Before(st.Last) {
		st.Unsorted++
	}
	st.Last = ts
	st.Points++

	// Deseasonalise before the z-score so that a daily cycle is not an outlier
	// against a window shorter than the cycle.
	wasReady := st.HW.Ready
	des := v - st.HW.seasonAt()
	zRobust := st.RZ.z(des)
	zSeason := st.HW.observe(v)
	if !wasReady && st.HW.Ready && st.HW.Period > 0 {
		// The season was just learned: the z-score window holds raw values,
		// which would now look like outliers against deseasonalised ones.
		st.RZ = newRobustZ(st.Settings.Window)
	}
	st.RZ.add(des)

	var diff float64
	if st.HasPrev {
		diff = v - st.Prev
	}
	st.Prev, st.HasPrev = v, true

	c := Components{
		RobustZ:  zScore(zRobust, 3, 6),
		Seasonal: zScore(zSeason, 3, 6),
		CUSUM:    st.CS.observe(zRobust),
		Forest:   st.IF.observe(feature{des, diff, zSeason}),
	}
	score := clamp01(math.Max(0.4*c.RobustZ+0.4*c.Seasonal+0.2*c.Forest, c.CUSUM))
	r := Result{Score: score, Components: c}
	tail := st.Scores.tail(score)
	st.Scores.add(score)
	if st.Quiet > 0 {
		st.Quiet--
		return r
	}
	if score >= st.Settings.Threshold && tail <= st.Settings.MaxTail {
		r.Label = true
		st.Quiet = st.Settings.Refractory
	}
	return r
}
