package cardinality

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/hll"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// Snapshot is a consistent copy of a stream's active series, taken under
// its lock and analysed outside it so reports never stall ingest for long.
type Snapshot struct {
	Stream     string
	Team       string
	Time       time.Time
	Created    time.Time
	LastSeen   time.Time
	Staleness  time.Duration
	Series     []SeriesRef
	Metrics    []MetricInfo
	KeyNames   []string
	Overflow   float64 // estimated active series not held exactly
	OverflowRE float64 // relative standard error of Overflow
	Refused    map[string]int64

	sets     []labelSet
	sums     []uint64 // per set, lazily
	sumsOnce sync.Once
	buckets  [rateBuckets]counts
	nowSec   uint32
	created  uint32
}

// SeriesRef is one active series in a snapshot.
type SeriesRef struct {
	Metric uint32
	Res    uint32
	DP     uint32
	Age    uint32 // whole seconds since the series was last seen (fits the padding before Value)
	Value  float64
}

// MetricInfo is a metric in a snapshot.
type MetricInfo struct {
	Name     string
	Type     otlpwire.MetricType
	NameHash uint64
	dp       [rateBuckets]counts
}

// Label is one attribute of a snapshot label set.
type Label struct {
	Key   string
	Value string
	Hash  uint64
}

// Labels returns the attributes of a label set, resource ones first.
func (sn *Snapshot) Labels(set uint32) []attr { return sn.sets[set].attrs }

// Key returns a key id's name.
func (sn *Snapshot) Key(id uint32) string { return sn.KeyNames[id] }

// Sum returns the identity hash sum of a series' attributes.
func (sn *Snapshot) Sum(r SeriesRef) uint64 {
	var h uint64
	for _, a := range sn.sets[r.Res].attrs {
		h += a.h
	}
	for _, a := range sn.sets[r.DP].attrs {
		h += a.h
	}
	return h
}

// liveCutoff is now, in tracker seconds, and the oldest last-seen second of
// a series that is still active (within the staleness window).
func (s *Stream) liveCutoff() (now time.Time, nowSec, cutoff uint32) {
	now = s.t.now()
	nowSec = s.t.sec(now)
	if stale := uint32(s.t.limits.Staleness / time.Second); nowSec > stale {
		cutoff = nowSec - stale
	}
	return now, nowSec, cutoff
}

// Snapshot copies the stream's active series.
func (s *Stream) Snapshot() *Snapshot {
	now, nowSec, cutoff := s.liveCutoff()
	return s.snapshot(now, nowSec, cutoff)
}

// SnapshotSince copies the stream's series last seen after since (and
// still active): what arrived after a config change, which the staleness
// window alone would blur for minutes.
func (s *Stream) SnapshotSince(since time.Time) *Snapshot {
	now, nowSec, cutoff := s.liveCutoff()
	if !since.After(s.t.epoch) {
		return s.snapshot(now, nowSec, cutoff)
	}
	// Seconds are whole: only a series seen in a later second than
	// since's counts, so nothing received just before since does.
	return s.snapshot(now, nowSec, max(cutoff, s.t.sec(since)+1))
}

func (s *Stream) snapshot(now time.Time, nowSec, cutoff uint32) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Snapshot{
		Stream: s.name, Team: s.team, Time: now, Created: s.created, LastSeen: s.lastSeen,
		Staleness: s.t.limits.Staleness, KeyNames: slices.Clone(s.keyNames),
		sets: slices.Clone(s.sets), buckets: s.buckets, nowSec: nowSec, created: s.t.sec(s.created),
		Series: make([]SeriesRef, 0, s.tab.n), Refused: map[string]int64{},
	}
	for k, v := range s.refused {
		sn.Refused[k] = v
	}
	for i := range s.tab.hot {
		if h := &s.tab.hot[i]; h.hash == emptyHash || h.last < cutoff {
			continue
		}
		sr := s.tab.at(i)
		sn.Series = append(sn.Series, SeriesRef{Metric: sr.metric, Res: sr.res, DP: sr.dp, Age: nowSec - min(nowSec, sr.last), Value: sr.value})
	}
	sn.Metrics = make([]MetricInfo, len(s.metrics))
	for i, m := range s.metrics {
		sn.Metrics[i] = MetricInfo{Name: m.name, Type: m.typ, NameHash: m.nameHash, dp: m.dp}
	}
	sn.Overflow, sn.OverflowRE = s.overflowEstimate(nowSec)
	return sn
}

// rate returns the per-second rate of a counter over the last complete
// buckets (up to one minute), or ok=false when no bucket has completed.
func rate(b *[rateBuckets]counts, nowSec, created uint32, pick func(counts) uint64) (float64, bool) {
	cur := nowSec / bucketSeconds
	var total uint64
	for _, c := range b {
		if c.epoch < cur && c.epoch+rateBuckets-1 >= cur {
			total += pick(c)
		}
	}
	start := uint32(0)
	if cur >= rateBuckets-1 {
		start = (cur - (rateBuckets - 1)) * bucketSeconds
	}
	start = max(start, created)
	end := cur * bucketSeconds
	if end <= start {
		return 0, false
	}
	return float64(total) / float64(end-start), true
}

// NewSeriesLastMinute counts series first seen in the current and the five
// previous 10 s buckets.
func (sn *Snapshot) NewSeriesLastMinute() float64 {
	cur := sn.nowSec / bucketSeconds
	var n uint64
	for _, c := range sn.buckets {
		if c.epoch <= cur && c.epoch+rateBuckets-1 > cur {
			n += c.newSeries
		}
	}
	return float64(n)
}

const reasonYoung = "no complete 10 s interval yet: the stream is newer than the first rate interval"

// Report builds the cardinality report; topN bounds top_values per label.
func (sn *Snapshot) Report(topN int) apiv1.CardinalityReport {
	if topN <= 0 {
		topN = 10
	}
	rep := apiv1.CardinalityReport{
		Stream: sn.Stream, Team: sn.Team, Time: sn.Time.UTC(),
		StalenessWindowSeconds: sn.Staleness.Seconds(),
		TrackedSeries:          int64(len(sn.Series)), Exact: sn.Overflow == 0,
		Metrics: []apiv1.MetricCardinality{},
	}
	rep.ActiveSeries = int64(len(sn.Series)) + int64(sn.Overflow+0.5)
	if !rep.Exact && rep.ActiveSeries > 0 {
		rep.ErrorBound = sn.OverflowRE * sn.Overflow / float64(rep.ActiveSeries)
	}
	if len(sn.Refused) > 0 {
		rep.Refused = sn.Refused
	}
	if v, ok := rate(&sn.buckets, sn.nowSec, sn.created, func(c counts) uint64 { return c.dp }); ok {
		rep.DPPerS = &v
	} else {
		rep.DPPerSUnknownReason = reasonYoung
	}
	if v, ok := rate(&sn.buckets, sn.nowSec, sn.created, func(c counts) uint64 { return c.bytes }); ok {
		rep.BytesPerS = &v
	} else {
		rep.BytesPerSUnknownReason = reasonYoung
	}
	n := sn.NewSeriesLastMinute()
	rep.NewSeriesPerMin = &n

	byMetric := sn.ByMetric()
	var names map[string]bool // for type inference, built when needed
	for mi, refs := range byMetric {
		m := sn.Metrics[mi]
		mc := apiv1.MetricCardinality{Name: m.Name, Type: m.Type.String(), Series: int64(len(refs)), Labels: sn.labelBreakdown(uint32(mi), refs, topN)}
		if m.Type == otlpwire.TypeUnknown {
			if names == nil {
				names = make(map[string]bool, len(sn.Metrics))
				for _, o := range sn.Metrics {
					names[o.Name] = true
				}
			}
			if t := InferType(m.Name, names); t != otlpwire.TypeUnknown {
				mc.Type, mc.TypeInferred = t.String(), true
			}
		}
		if v, ok := rate(&m.dp, sn.nowSec, sn.created, func(c counts) uint64 { return c.dp }); ok {
			mc.DPPerS = &v
		} else {
			mc.DPPerSUnknownReason = reasonYoung
		}
		if len(refs) == 0 && mc.DPPerS != nil && *mc.DPPerS == 0 {
			continue // a metric whose series all went stale
		}
		rep.Metrics = append(rep.Metrics, mc)
	}
	slices.SortFunc(rep.Metrics, func(a, b apiv1.MetricCardinality) int {
		return cmp.Or(cmp.Compare(b.Series, a.Series), cmp.Compare(a.Name, b.Name))
	})
	return rep
}

// ByMetric groups the snapshot's series by metric index.
func (sn *Snapshot) ByMetric() [][]SeriesRef {
	out := make([][]SeriesRef, len(sn.Metrics))
	for _, r := range sn.Series {
		out[r.Metric] = append(out[r.Metric], r)
	}
	return out
}

type labelKey struct {
	scope uint8 // 0 resource, 1 datapoint
	key   uint32
}

// labelBreakdown computes distinct values, top values and share for every
// label of one metric's series. series(metric without the label) is the
// number of distinct series keys once the label's hash is taken out of each
// sum (series that lack the label keep theirs, and may merge with ones that
// had it). The work per series is a few array reads: values are counted
// per label set (a process's resource set is shared by all its series), and
// sums and label hashes are looked up by set id.
func (sn *Snapshot) labelBreakdown(mi uint32, refs []SeriesRef, topN int) []apiv1.LabelCardinality {
	if len(refs) == 0 {
		return []apiv1.LabelCardinality{}
	}
	nameHash := sn.Metrics[mi].NameHash
	setSum := sn.setSums()
	sums := make([]uint64, len(refs))
	perSet := make([]int64, len(sn.sets)) // series per set, for the touched sets
	var touched [2][]uint32               // sets used by these series, per scope
	for i, r := range refs {
		sums[i] = setSum[r.Res] + setSum[r.DP]
		for scope, set := range [2]uint32{r.Res, r.DP} {
			if perSet[set] == 0 {
				touched[scope] = append(touched[scope], set)
			}
			perSet[set]++
		}
	}
	// One visit per (set, attribute): find the metric's labels, count their
	// values, and note each label's hash per set.
	type vc struct {
		val string
		n   int64
	}
	var labels []labelKey
	labelIdx := map[labelKey]int{}
	var labelH [][]uint64       // per label, per set
	var values []map[uint64]*vc // per label, by attribute hash (key and encoded value)
	for scope := range touched {
		for _, set := range touched[scope] {
			for _, a := range sn.sets[set].attrs {
				k := labelKey{uint8(scope), a.key}
				li, ok := labelIdx[k]
				if !ok {
					li = len(labels)
					labelIdx[k] = li
					labels = append(labels, k)
					labelH = append(labelH, make([]uint64, len(sn.sets)))
					values = append(values, map[uint64]*vc{})
				}
				labelH[li][set] = a.h
				if v := values[li][a.h]; v != nil {
					v.n += perSet[set]
				} else {
					values[li][a.h] = &vc{val: a.val, n: perSet[set]}
				}
			}
		}
	}
	keys := make([]uint64, len(refs))
	total := float64(len(refs))
	out := make([]apiv1.LabelCardinality, 0, len(labels))
	top := make([]apiv1.ValueCount, 0, len(refs))
	for li, k := range labels {
		lh := labelH[li]
		for i, r := range refs {
			set := r.Res
			if k.scope == 1 {
				set = r.DP
			}
			keys[i] = otlpwire.SeriesKey(nameHash, sums[i]-lh[set])
		}
		slices.Sort(keys)
		distinct := 0
		for i := range keys {
			if i == 0 || keys[i] != keys[i-1] {
				distinct++
			}
		}
		top = top[:0]
		for _, v := range values[li] {
			top = append(top, apiv1.ValueCount{Value: v.val, Series: v.n})
		}
		lc := apiv1.LabelCardinality{
			Name: sn.KeyNames[k.key], Scope: apiv1.ScopeResource, DistinctValues: int64(len(values[li])),
			Share: 1 - float64(distinct)/total, TopValues: topN2(top, topN),
		}
		if k.scope == 1 {
			lc.Scope = apiv1.ScopeDatapoint
		}
		out = append(out, lc)
		labelH[li], values[li] = nil, nil // free as we go
	}
	slices.SortFunc(out, func(a, b apiv1.LabelCardinality) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(b.DistinctValues, a.DistinctValues),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Scope, b.Scope))
	})
	return out
}

// setSums returns every label set's hash sum, computed once per snapshot.
func (sn *Snapshot) setSums() []uint64 {
	sn.sumsOnce.Do(func() {
		sn.sums = make([]uint64, len(sn.sets))
		for i, ls := range sn.sets {
			for _, a := range ls.attrs {
				sn.sums[i] += a.h
			}
		}
	})
	return sn.sums
}

// topN2 returns the n values with the most series (ties by value).
func topN2(vs []apiv1.ValueCount, n int) []apiv1.ValueCount {
	less := func(a, b apiv1.ValueCount) int {
		return cmp.Or(cmp.Compare(b.Series, a.Series), cmp.Compare(a.Value, b.Value))
	}
	out := make([]apiv1.ValueCount, 0, min(n, len(vs))+1)
	for _, vc := range vs {
		if len(out) == n && less(vc, out[n-1]) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(out, vc, less)
		out = slices.Insert(out, i, vc)
		if len(out) > n {
			out = out[:n]
		}
	}
	return out
}

// Summary is the stream's list entry.
func (sn *Snapshot) Summary() apiv1.StreamSummary {
	return apiv1.StreamSummary{
		Stream: sn.Stream, Team: sn.Team, ActiveSeries: int64(len(sn.Series)) + int64(sn.Overflow+0.5),
		Exact: sn.Overflow == 0, FirstSeen: sn.Created.UTC(), LastSeen: sn.LastSeen.UTC(),
	}
}

// maxRollupMetrics bounds the per-metric series map of one rollup.
const maxRollupMetrics = 100

// Rollup closes the stream's current interval: it forgets stale series,
// then summarises the interval since the previous rollup (datapoints,
// bytes and new series are deltas; active series is the level at the end;
// the sketch holds every series seen in the interval) and starts the next.
func (s *Stream) Rollup(now time.Time) apiv1.Rollup {
	nowSec := s.t.sec(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(nowSec)
	r := apiv1.Rollup{
		Stream: s.name, Start: s.t.timeOf(s.intervalFrom).UTC(), End: s.t.timeOf(nowSec).UTC(),
		Datapoints: int64(s.total.dp - s.rolled.dp), Bytes: int64(s.total.bytes - s.rolled.bytes),
		NewSeries: int64(s.total.newSeries - s.rolled.newSeries), ActiveSeries: int64(s.tab.n), Exact: true,
		MetricSeries: map[string]int64{},
	}
	if s.rolledAt.IsZero() {
		r.Start = s.created.UTC()
	} else {
		r.Start = s.rolledAt.UTC()
	}
	s.rolled, s.rolledAt = s.total, now
	if est, _ := s.overflowEstimate(nowSec); est > 0 {
		r.ActiveSeries += int64(est + 0.5)
		r.Exact = false
	}
	type ms struct {
		name string
		n    int64
	}
	top := make([]ms, 0, len(s.metrics))
	for _, m := range s.metrics {
		if m.series > 0 {
			top = append(top, ms{m.name, m.series})
		}
	}
	slices.SortFunc(top, func(a, b ms) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.name, b.name)) })
	for i, m := range top {
		if i >= maxRollupMetrics {
			r.MetricSeries["_other_"] += m.n
			continue
		}
		r.MetricSeries[m.name] = m.n
	}
	r.HLL, _ = s.interval.MarshalBinary()
	s.interval.Reset()
	s.intervalFrom = nowSec
	return r
}

func (s *Stream) summaryCounts() apiv1.StreamSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := apiv1.StreamSummary{Stream: s.name, Team: s.team, ActiveSeries: int64(s.tab.n), Exact: true,
		FirstSeen: s.created.UTC(), LastSeen: s.lastSeen.UTC()}
	if est, _ := s.overflowEstimate(s.t.sec(s.t.now())); est > 0 {
		sum.ActiveSeries += int64(est + 0.5)
		sum.Exact = false
	}
	return sum
}

// overflowEstimate merges the overflow sketches of the staleness window:
// the estimated series not held exactly, and its relative standard error.
// The caller holds s.mu.
func (s *Stream) overflowEstimate(nowSec uint32) (float64, float64) {
	if s.overflow == nil {
		return 0, 0
	}
	merged := hll.New(overflowPrecision)
	minute := nowSec / 60
	window := uint32(len(s.overflow))
	for i, sk := range s.overflow {
		if s.overflowSeen[i]+window > minute {
			_ = merged.Merge(sk)
		}
	}
	return merged.Estimate(), merged.RelativeError()
}

// Figures are a stream's headline numbers, without the breakdown.
type Figures struct {
	ActiveSeries           int64
	Exact                  bool
	DPPerS, BytesPerS      *float64
	DPPerSUnknownReason    string
	BytesPerSUnknownReason string
}

// Figures reads the stream's active series and rates cheaply (no copy of
// the series). Active series count the table, which rollups sweep every
// interval, so it may include series that went stale since the last sweep.
func (s *Stream) Figures() Figures {
	nowSec := s.t.sec(s.t.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	f := Figures{ActiveSeries: int64(s.tab.n), Exact: true}
	if est, _ := s.overflowEstimate(nowSec); est > 0 {
		f.ActiveSeries += int64(est + 0.5)
		f.Exact = false
	}
	created := s.t.sec(s.created)
	if v, ok := rate(&s.buckets, nowSec, created, func(c counts) uint64 { return c.dp }); ok {
		f.DPPerS = &v
	} else {
		f.DPPerSUnknownReason = reasonYoung
	}
	if v, ok := rate(&s.buckets, nowSec, created, func(c counts) uint64 { return c.bytes }); ok {
		f.BytesPerS = &v
	} else {
		f.BytesPerSUnknownReason = reasonYoung
	}
	return f
}

// InferType derives a remote-write metric's type from its name when no
// metadata said it, by Prometheus' naming conventions: _total is a counter
// (a sum), _bucket a histogram part, _count and _sum a histogram's when the
// family has _bucket series, else a summary's. Other names stay unknown.
func InferType(name string, names map[string]bool) otlpwire.MetricType {
	switch {
	case strings.HasSuffix(name, "_total"):
		return otlpwire.TypeSum
	case strings.HasSuffix(name, "_bucket"):
		return otlpwire.TypeHistogram
	}
	for _, suf := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if names[base+"_bucket"] {
				return otlpwire.TypeHistogram
			}
			return otlpwire.TypeSummary
		}
	}
	return otlpwire.TypeUnknown
}
