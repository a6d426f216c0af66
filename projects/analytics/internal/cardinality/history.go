package cardinality

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// The phoenix_topk processor's defaults, which a TopKEstimate inherits.
const (
	DefaultRankMetric     = "process.cpu.time"
	DefaultTopKWindow     = 60 * time.Second
	DefaultTopKHysteresis = 30 * time.Second
	defaultTopKDecay      = 0.5
)

// HistoryLimits bound the rank history. Every field has a default.
type HistoryLimits struct {
	Span       time.Duration // how far back samples are kept
	MaxSamples int           // samples per stream
	MaxSeries  int           // rank-metric series per stream
	MaxTotal   int           // rank-metric series over all streams
	MaxMetrics int           // rank metrics per stream (the default one included)
	MaxStreams int
}

// DefaultHistoryLimits covers the staleness window plus the processor's
// memory of a group (two windows and the hysteresis) at the defaults.
func DefaultHistoryLimits(staleness time.Duration) HistoryLimits {
	return HistoryLimits{
		Span:       staleness + 2*DefaultTopKWindow + DefaultTopKHysteresis,
		MaxSamples: 1024, MaxSeries: 50_000, MaxTotal: 200_000, MaxMetrics: 4, MaxStreams: 256,
	}
}

// RankHistory records, per stream, the last values of the series of the
// rank metrics in use (process.cpu.time by default) at each Sample call,
// off the ingest path (the service calls Sample on its rollup tick). The
// top-K estimate replays the phoenix_topk ranking over it, since the set of
// entities the processor keeps over a staleness window depends on how
// their rates moved, not on one snapshot.
type RankHistory struct {
	mu      sync.Mutex
	limits  HistoryLimits
	streams map[string]*streamHistory
	refused map[string]int64
}

type streamHistory struct {
	metrics []string
	samples []rankSample // oldest first
	series  map[uint64]*rankSeries
}

// rankSample is one reading of a stream's rank-metric series (a slice:
// a sample is written once and read in full).
type rankSample struct {
	at     time.Time
	values []rankValue
}

type rankValue struct {
	id    uint64 // series hash
	value float64
	last  uint32 // tracker second of the series' last update
}

// rankSeries is what an estimate needs of a series: its metric and labels
// (resource first, as Snapshot.Label looks them up).
type rankSeries struct {
	metric string
	labels []rankLabel
	seen   time.Time // last sample holding it
}

type rankLabel struct{ key, val string }

func (rs *rankSeries) label(key string) string {
	for _, l := range rs.labels {
		if l.key == key {
			return l.val
		}
	}
	return ""
}

// NewRankHistory returns an empty history; zero limits take defaults.
func NewRankHistory(l HistoryLimits) *RankHistory {
	d := DefaultHistoryLimits(5 * time.Minute)
	if l.Span <= 0 {
		l.Span = d.Span
	}
	if l.MaxSamples <= 0 {
		l.MaxSamples = d.MaxSamples
	}
	if l.MaxSeries <= 0 {
		l.MaxSeries = d.MaxSeries
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = d.MaxTotal
	}
	if l.MaxMetrics <= 0 {
		l.MaxMetrics = d.MaxMetrics
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = d.MaxStreams
	}
	return &RankHistory{limits: l, streams: map[string]*streamHistory{}, refused: map[string]int64{}}
}

// Refused counts what the history did not record, by reason.
func (h *RankHistory) Refused() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int64, len(h.refused))
	for k, v := range h.refused {
		out[k] = v
	}
	return out
}

// Sample records the current values of the rank-metric series of streams
// and forgets streams no longer listed.
func (h *RankHistory) Sample(now time.Time, streams []*Stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	live := make(map[string]bool, len(streams))
	total := 0
	for _, sh := range h.streams {
		total += len(sh.series)
	}
	for _, st := range streams {
		live[st.name] = true
		sh := h.streams[st.name]
		if sh == nil {
			if len(h.streams) >= h.limits.MaxStreams {
				h.refused["rank_history_streams"]++
				continue
			}
			sh = &streamHistory{metrics: []string{DefaultRankMetric}, series: map[uint64]*rankSeries{}}
			h.streams[st.name] = sh
		}
		had := len(sh.series)
		smp := rankSample{at: now}
		var refused int
		smp.values, refused = st.rankValues(sh, min(h.limits.MaxSeries, had+h.limits.MaxTotal-total))
		if refused > 0 {
			h.refused["rank_history_series"] += int64(refused)
		}
		for _, v := range smp.values {
			sh.series[v.id].seen = now
		}
		sh.samples = append(sh.samples, smp)
		h.trim(sh, now)
		total += len(sh.series) - had
	}
	for name := range h.streams {
		if !live[name] {
			delete(h.streams, name)
		}
	}
}

// trim drops samples past the span or the count bound, and the series no
// remaining sample holds.
func (h *RankHistory) trim(sh *streamHistory, now time.Time) {
	drop := 0
	for drop < len(sh.samples) && (now.Sub(sh.samples[drop].at) > h.limits.Span || len(sh.samples)-drop > h.limits.MaxSamples) {
		drop++
	}
	if drop == 0 {
		return
	}
	sh.samples = slices.Delete(sh.samples, 0, drop)
	oldest := now
	if len(sh.samples) > 0 {
		oldest = sh.samples[0].at
	}
	for id, rs := range sh.series {
		if rs.seen.Before(oldest) {
			delete(sh.series, id)
		}
	}
}

// track adds a rank metric to a stream's history (from the next sample on).
func (h *RankHistory) track(stream, metric string) {
	sh := h.streams[stream]
	if sh == nil || slices.Contains(sh.metrics, metric) {
		return
	}
	if len(sh.metrics) >= h.limits.MaxMetrics {
		h.refused["rank_history_metrics"]++
		return
	}
	sh.metrics = append(sh.metrics, metric)
}

// rankValues returns the active series of sh's metrics, resolving the
// labels of series sh does not know yet (up to maxSeries known). It only
// reads the table, under the stream's lock, like Snapshot. It also returns
// how many series were refused for the bound.
func (s *Stream) rankValues(sh *streamHistory, maxSeries int) ([]rankValue, int) {
	_, _, cutoff := s.liveCutoff()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[uint32]string, len(sh.metrics))
	for i, m := range s.metrics {
		if slices.Contains(sh.metrics, m.name) {
			want[uint32(i)] = m.name
		}
	}
	if len(want) == 0 {
		return nil, 0
	}
	var out []rankValue
	refused := 0
	for i := range s.tab.hot {
		if hs := &s.tab.hot[i]; hs.hash == emptyHash || hs.last < cutoff {
			continue
		}
		sr := s.tab.at(i)
		name, ok := want[sr.metric]
		if !ok {
			continue
		}
		if _, known := sh.series[sr.hash]; !known {
			if len(sh.series) >= maxSeries {
				refused++
				continue
			}
			rs := &rankSeries{metric: name}
			for _, set := range [2]uint32{sr.res, sr.dp} {
				for _, a := range s.sets[set].attrs {
					rs.labels = append(rs.labels, rankLabel{s.keyNames[a.key], a.val})
				}
			}
			sh.series[sr.hash] = rs
		}
		out = append(out, rankValue{id: sr.hash, value: sr.value, last: sr.last})
	}
	return out, refused
}

// topkParams are a TopKEstimate's processor keys with defaults applied.
type topkParams struct {
	rankMetric         string
	window, hysteresis time.Duration
	decay              float64
}

func parseTopK(tk *apiv1.TopKEstimate) (topkParams, error) {
	p := topkParams{rankMetric: tk.RankMetric, window: DefaultTopKWindow, hysteresis: DefaultTopKHysteresis, decay: defaultTopKDecay}
	if p.rankMetric == "" {
		p.rankMetric = DefaultRankMetric
	}
	for _, f := range []struct {
		name, v string
		dst     *time.Duration
		min     time.Duration
	}{{"topk.window", tk.Window, &p.window, time.Second}, {"topk.hysteresis", tk.Hysteresis, &p.hysteresis, 0}} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil {
			return p, fmt.Errorf("%s: %w", f.name, err)
		}
		if d < f.min {
			return p, fmt.Errorf("%s: must be at least %s, got %s", f.name, f.min, d)
		}
		*f.dst = d
	}
	return p, nil
}

// Estimate answers an estimate request for sn's stream. Without a top-K
// rule it is sn.Estimate. With one, kept entities are those the replayed
// phoenix_topk ranking keeps at some sample within the staleness window
// (plus critical ones); with fewer than two samples of the rank metric the
// current snapshot is ranked by the rank metric's value instead, and the
// reply says so (Exact false, InexactReason).
func (h *RankHistory) Estimate(sn *Snapshot, req apiv1.EstimateRequest) (apiv1.EstimateReply, error) {
	if req.TopK == nil || h == nil {
		return sn.Estimate(req)
	}
	if err := sn.checkRequest(req); err != nil {
		return apiv1.EstimateReply{Stream: sn.Stream, Metric: req.Metric}, err
	}
	p, err := parseTopK(req.TopK)
	if err != nil {
		return apiv1.EstimateReply{Stream: sn.Stream, Metric: req.Metric}, err
	}
	critical, _ := compileCritical(req.TopK.Critical) // checked by checkRequest
	obs, span := h.observations(sn, req.TopK, p.rankMetric)
	if len(obs) < 2 {
		rep, err := sn.estimate(req, nil, sn.rankScores(req.TopK, critical, p.rankMetric))
		rep.TopKBasis = apiv1.TopKBasisSnapshot
		rep.Exact = false
		rep.InexactReason = fmt.Sprintf("fewer than two samples of %s in the rank history: the top K of the current snapshot ranked by its value (series count where absent), not the set kept over time", p.rankMetric)
		return rep, err
	}
	// The processor re-ranks on every batch during a group's first window;
	// a group is in its first window if it appeared after the history began,
	// or if the history began within a window of the stream's creation.
	freshStart := obs[0].at.Sub(sn.Created) < p.window
	kept := replayTopK(obs, req.TopK.K, p, freshStart, sn.Time.Add(-sn.Staleness))
	rep, err := sn.estimate(req, kept, nil)
	rep.TopKBasis = apiv1.TopKBasisHistory
	rep.TopKHistorySeconds = span.Seconds()
	return rep, err
}

// rankObs is one sample reduced to entities: the sum of each entity's
// rank-metric series, for the entities that sent data since the previous
// sample.
type rankObs struct {
	at   time.Time
	sums map[entity]float64
}

// observations reduces a stream's samples to per-entity rank sums and
// registers the rank metric for sampling if it is new.
func (h *RankHistory) observations(sn *Snapshot, tk *apiv1.TopKEstimate, rankMetric string) ([]rankObs, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.track(sn.Stream, rankMetric)
	sh := h.streams[sn.Stream]
	if sh == nil {
		return nil, 0
	}
	ents := map[uint64]entity{}
	var obs []rankObs
	prev := map[uint64]rankValue{}
	for i, smp := range sh.samples {
		o := rankObs{at: smp.at, sums: map[entity]float64{}}
		sent := map[entity]bool{}
		for _, v := range smp.values {
			id := v.id
			rs := sh.series[id]
			if rs == nil || rs.metric != rankMetric {
				continue
			}
			e, ok := ents[id]
			if !ok {
				e = entityOfLabels(tk, rs.label)
				ents[id] = e
			}
			o.sums[e] += v.value
			// Data arrived since the previous sample when the series was
			// updated (or first appeared): the processor saw the entity.
			if pv, had := prev[id]; i == 0 || !had || pv.last != v.last || pv.value != v.value {
				sent[e] = true
			}
			prev[id] = v
		}
		for e := range o.sums {
			if !sent[e] {
				delete(o.sums, e)
			}
		}
		if len(o.sums) > 0 {
			obs = append(obs, o)
		}
	}
	if len(obs) < 2 {
		return obs, 0
	}
	return obs, obs[len(obs)-1].at.Sub(obs[0].at)
}

// entityOfLabels hashes an entity as Snapshot.entityOf does.
func entityOfLabels(tk *apiv1.TopKEstimate, label func(string) string) entity {
	var e entity
	for _, k := range tk.GroupBy {
		e.group = otlpwire.Mix(e.group ^ xxhash.Sum64String(label(k)))
	}
	for _, k := range tk.EntityKeys {
		e.entity = otlpwire.Mix(e.entity ^ xxhash.Sum64String(label(k)))
	}
	return e
}

// simEntity is the processor's per-entity rank state.
type simEntity struct {
	id       entity
	peak     float64
	member   bool
	outSince time.Time
	last     float64
	lastAt   time.Time
	seen     bool
}

type simGroup struct {
	firstSeen, lastRank time.Time
	fresh               bool // ranked on every sample during its first window
	members             []*simEntity
}

// replayTopK replays phoenix_topk's ranking (topk.go: finish, rank, sweep)
// over the observations: rates from successive sums (a fall is a reset:
// the new sum is what accrued), peak = max(decayed peak, rate), re-rank a
// group every window (every sample in its first window when fresh), top K
// by peak (members win ties), members that rank out leave after the
// hysteresis, entities unseen for 2*window+hysteresis are forgotten. It
// returns every entity kept at a sample at or after from. An entity's
// first observation at the first sample has no rate (the processor uses
// the lifetime average, which needs the start time analytics does not
// keep): it ranks from its second observation on.
func replayTopK(obs []rankObs, k int, p topkParams, freshStart bool, from time.Time) map[entity]bool {
	ents := map[entity]*simEntity{}
	groups := map[uint64]*simGroup{}
	kept := map[entity]bool{}
	var ranked []*simEntity
	for i, o := range obs {
		touched := map[uint64]*simGroup{}
		for id, sum := range o.sums {
			g := groups[id.group]
			if g == nil {
				g = &simGroup{firstSeen: o.at, fresh: i > 0 || freshStart}
				groups[id.group] = g
			}
			touched[id.group] = g
			e := ents[id]
			if e == nil {
				e = &simEntity{id: id}
				ents[id] = e
				g.members = append(g.members, e)
			}
			rate, ok := 0.0, false
			switch {
			case e.seen && o.at.After(e.lastAt):
				d := sum - e.last
				if d < 0 {
					d = sum
				}
				rate, ok = d/o.at.Sub(e.lastAt).Seconds(), true
			case !e.seen && i > 0:
				// A new entity: assume it started after the previous sample.
				rate, ok = sum/o.at.Sub(obs[i-1].at).Seconds(), true
			}
			if ok {
				e.peak = max(e.peak, rate)
			}
			e.seen, e.last, e.lastAt = true, sum, o.at
		}
		if i == 0 {
			continue // no rates yet
		}
		for _, g := range touched {
			if o.at.Sub(g.lastRank) >= p.window || (g.fresh && o.at.Sub(g.firstSeen) < p.window) {
				ranked = rankGroup(g, o.at, k, p, ranked)
			}
		}
		if o.at.Before(from) {
			continue
		}
		for id := range o.sums {
			if ents[id].member {
				kept[id] = true
			}
		}
	}
	return kept
}

func rankGroup(g *simGroup, now time.Time, k int, p topkParams, ranked []*simEntity) []*simEntity {
	stale := 2*p.window + p.hysteresis
	g.members = slices.DeleteFunc(g.members, func(e *simEntity) bool { return now.Sub(e.lastAt) > stale })
	ranked = append(ranked[:0], g.members...)
	slices.SortFunc(ranked, func(a, b *simEntity) int {
		switch {
		case a.peak != b.peak:
			if a.peak > b.peak {
				return -1
			}
			return 1
		case a.member != b.member:
			if a.member {
				return -1
			}
			return 1
		case a.id.entity != b.id.entity:
			if a.id.entity < b.id.entity {
				return -1
			}
			return 1
		}
		return 0
	})
	for i, e := range ranked {
		if i < k {
			e.member, e.outSince = true, time.Time{}
			continue
		}
		if !e.member {
			continue
		}
		if e.outSince.IsZero() {
			e.outSince = now
		}
		if now.Sub(e.outSince) >= p.hysteresis {
			e.member, e.outSince = false, time.Time{}
		}
	}
	factor := 1.0
	if !g.lastRank.IsZero() {
		factor = math.Pow(p.decay, float64(now.Sub(g.lastRank))/float64(p.window))
	}
	for _, e := range g.members {
		e.peak *= factor
	}
	g.lastRank = now
	return ranked
}

// rankScores sums each snapshot entity's rank-metric values (the fallback
// ranking when there is no history).
func (sn *Snapshot) rankScores(tk *apiv1.TopKEstimate, critical *regexp.Regexp, rankMetric string) map[entity]float64 {
	scores := map[entity]float64{}
	for _, r := range sn.Series {
		if sn.Metrics[r.Metric].Name != rankMetric {
			continue
		}
		e, _ := sn.entityOf(r, tk, critical)
		scores[e] += r.Value
	}
	return scores
}
