// Package detect runs one anomaly.Ensemble per (stream, signal) over
// analytics' rollups and evaluates the explosion rule on active series. It
// holds no I/O: the service feeds it rollups, checkpoints its Snapshot and
// turns its Observations into alerts.
package detect

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

// Signal names (the service's config lists which are watched).
const (
	ActiveSeries    = "active_series"
	NewSeriesPerMin = "new_series_per_min"
	DPPerS          = "dp_per_s"
	BytesPerS       = "bytes_per_s"
)

// Settings configure a Detector.
type Settings struct {
	Signals   []string
	MaxSeries int // most (stream, signal) ensembles held
	Anomaly   anomaly.Settings
	// WarmupPoints: labels before this many points are not reported.
	WarmupPoints int
	Rule         Rule
	// IdleAfter: when MaxSeries is reached, a stream without a rollup for
	// this long (in rollup time) makes room for a new one; 0 never evicts.
	// Experiments create variant streams that analytics drops after an
	// hour idle: without eviction they would hold their room for ever.
	IdleAfter time.Duration
}

// Rule is the explosion rule: active series grew by at least Pct percent
// and Series series over the lowest of the previous Windows rollups.
type Rule struct {
	Pct     float64
	Series  int64
	Windows int
}

// Exploded reports whether current is an explosion over baseline.
func (r Rule) Exploded(baseline, current float64) bool {
	return current-baseline >= float64(r.Series) && current >= baseline*(1+r.Pct/100)
}

// Observation is what one rollup showed for its stream.
type Observation struct {
	Stream string
	Time   time.Time
	Values map[string]float64 // by signal
	Scores map[string]float64 // by signal, in [0,1]
	// Components are each ensemble detector's own score, by signal.
	Components map[string]anomaly.Components
	// Labelled lists the signals whose ensemble raised an anomaly at this
	// point, once the series is past its warm-up.
	Labelled []string
	// Explosion is set when the explosion rule holds on active series.
	Explosion *Growth
	// Evicted names an idle stream forgotten to make room for this one.
	Evicted string
}

// Growth is an explosion: active series went from Baseline to Current.
type Growth struct {
	Baseline, Current float64
}

// Detector holds the ensembles. It is safe for concurrent use (the consumer
// observes while a checkpoint snapshots).
type Detector struct {
	s       Settings
	mu      sync.Mutex
	streams map[string]map[string]*series // stream -> signal -> series
	refused int64
}

type series struct {
	e      *anomaly.Ensemble
	recent []float64 // last Rule.Windows+1 values at most, oldest first
	points int64
	dirty  bool
	at     time.Time
}

// New builds an empty Detector.
func New(s Settings) (*Detector, error) {
	if err := s.Anomaly.Validate(); err != nil {
		return nil, fmt.Errorf("detector settings: %w", err)
	}
	return &Detector{s: s, streams: map[string]map[string]*series{}}, nil
}

// Values derives the signals from a rollup; ok is false for a rollup with
// no duration (rates are undefined).
func Values(r apiv1.Rollup) (map[string]float64, bool) {
	secs := r.End.Sub(r.Start).Seconds()
	if secs <= 0 {
		return nil, false
	}
	return map[string]float64{
		ActiveSeries:    float64(r.ActiveSeries),
		NewSeriesPerMin: float64(r.NewSeries) * 60 / secs,
		DPPerS:          float64(r.Datapoints) / secs,
		BytesPerS:       float64(r.Bytes) / secs,
	}, true
}

// Observe feeds one rollup to its stream's ensembles. ok is false when the
// stream is refused (MaxSeries reached) or the rollup has no duration.
func (d *Detector) Observe(r apiv1.Rollup) (Observation, bool) {
	vals, ok := Values(r)
	if !ok {
		return Observation{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, evicted, ok := d.admit(r.Stream, r.End)
	if !ok {
		return Observation{}, false
	}
	obs := Observation{Stream: r.Stream, Time: r.End, Values: map[string]float64{}, Scores: map[string]float64{},
		Components: map[string]anomaly.Components{}, Evicted: evicted}
	for _, sig := range d.s.Signals {
		se := st[sig]
		v := vals[sig]
		res := se.e.Observe(r.End, v)
		se.points++
		se.dirty, se.at = true, r.End
		obs.Values[sig], obs.Scores[sig], obs.Components[sig] = v, res.Score, res.Components
		if res.Label && se.points > int64(d.s.WarmupPoints) {
			obs.Labelled = append(obs.Labelled, sig)
		}
		if sig == ActiveSeries && len(se.recent) > 0 {
			lookback := se.recent[max(0, len(se.recent)-d.s.Rule.Windows):]
			if base := slices.Min(lookback); d.s.Rule.Exploded(base, v) {
				obs.Explosion = &Growth{Baseline: base, Current: v}
			}
		}
		se.recent = append(se.recent, v)
		if over := len(se.recent) - (d.s.Rule.Windows + 1); over > 0 {
			se.recent = slices.Delete(se.recent, 0, over)
		}
	}
	return obs, true
}

// admit returns the stream's series, creating them when they fit (evicting
// the longest idle stream if it has been idle for IdleAfter at time at).
// Caller holds d.mu.
func (d *Detector) admit(stream string, at time.Time) (map[string]*series, string, bool) {
	if st, ok := d.streams[stream]; ok {
		return st, "", true
	}
	evicted := ""
	if (len(d.streams)+1)*len(d.s.Signals) > d.s.MaxSeries {
		evicted = d.idlest(at)
		if evicted == "" {
			d.refused++
			return nil, "", false
		}
		delete(d.streams, evicted)
	}
	st := make(map[string]*series, len(d.s.Signals))
	for _, sig := range d.s.Signals {
		e, err := anomaly.New(d.s.Anomaly)
		if err != nil { // validated in New
			panic(err)
		}
		st[sig] = &series{e: e}
	}
	d.streams[stream] = st
	return st, evicted, true
}

// idlest returns the stream seen longest ago if it has been idle for
// IdleAfter at time at, else "". O(streams), only when the detector is full.
func (d *Detector) idlest(at time.Time) string {
	if d.s.IdleAfter <= 0 {
		return ""
	}
	name, last := "", at
	for n, st := range d.streams {
		var seen time.Time
		for _, se := range st {
			seen = se.at
			break // a stream's signals are observed together
		}
		if seen.Before(last) {
			name, last = n, seen
		}
	}
	if name == "" || at.Sub(last) < d.s.IdleAfter {
		return ""
	}
	return name
}

// Stats are the detector's counts.
type Stats struct {
	Streams, Series int
	Refused         int64 // rollups of streams refused for want of room
}

// Stats reports what the detector holds.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Streams: len(d.streams), Series: len(d.streams) * len(d.s.Signals), Refused: d.refused}
}

// Points returns how many points a series has seen (0 when unknown).
func (d *Detector) Points(stream, signal string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if se := d.streams[stream][signal]; se != nil {
		return se.points
	}
	return 0
}

// Snapshot encodes the series changed since the last snapshot.
func (d *Detector) Snapshot() ([]store.Series, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []store.Series
	for name, st := range d.streams {
		for sig, se := range st {
			if !se.dirty {
				continue
			}
			b, err := se.e.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("snapshot %s/%s: %w", name, sig, err)
			}
			out = append(out, store.Series{Stream: name, Signal: sig, State: b, Recent: slices.Clone(se.recent), Points: se.points, UpdatedAt: se.at})
		}
	}
	return out, nil
}

// MarkSaved clears the dirty marks of saved series (those not observed
// again since the snapshot; a later observation re-marks them anyway).
func (d *Detector) MarkSaved(saved []store.Series) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range saved {
		if se := d.streams[s.Stream][s.Signal]; se != nil && se.points == s.Points {
			se.dirty = false
		}
	}
}

// Restore loads stored series. States of signals no longer watched are
// skipped; a stream is restored whole or not at all when room runs out. A
// corrupt state is an error naming the series.
func (d *Detector) Restore(saved []store.Series) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	bySig := map[string]map[string]store.Series{}
	for _, s := range saved {
		if !slices.Contains(d.s.Signals, s.Signal) {
			continue
		}
		if bySig[s.Stream] == nil {
			bySig[s.Stream] = map[string]store.Series{}
		}
		bySig[s.Stream][s.Signal] = s
	}
	for name, sigs := range bySig {
		var at time.Time
		for _, s := range sigs {
			at = s.UpdatedAt
			break
		}
		st, _, ok := d.admit(name, at)
		if !ok {
			continue
		}
		for sig, s := range sigs {
			se := st[sig]
			if err := se.e.UnmarshalBinary(s.State); err != nil {
				return fmt.Errorf("restore %s/%s: %w", name, sig, err)
			}
			se.recent, se.points, se.at = s.Recent, s.Points, s.UpdatedAt
			if n := d.s.Rule.Windows + 1; len(se.recent) > n {
				se.recent = se.recent[len(se.recent)-n:]
			}
		}
	}
	return nil
}

// Rule returns the explosion rule.
func (d *Detector) Rule() Rule { return d.s.Rule }
