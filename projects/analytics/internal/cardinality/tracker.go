// Package cardinality keeps the live inventory of every stream's series:
// which series are active (seen within the staleness window), their label
// sets, datapoint and byte rates, and churn. Series are counted exactly up to
// a bound per stream (and a bound over all streams); past it they are
// counted in HyperLogLog sketches whose error the reports state.
//
// A series costs one slot of an open-addressing table (28 bytes, at a load
// of 3/8 to 3/4); label sets are interned and shared by the series that carry them, so a
// process's resource attributes are stored once for all its metrics.
package cardinality

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/hll"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// Limits bound what the tracker holds.
type Limits struct {
	MaxStreams            int           // streams tracked; more are refused
	ExactSeriesPerStream  int           // series held exactly per stream; more are sketched
	MaxSeriesTotal        int           // series held exactly over all streams; more are sketched
	MaxMetricsPerStream   int           // distinct metric names per stream; more are refused
	MaxLabelSetsPerStream int           // interned label sets per stream; series needing more are sketched
	MaxLabelKeysPerStream int           // distinct label names per stream; series needing more are sketched
	Staleness             time.Duration // a series not seen for this long stops being active
	// TeamQuota is every team's share (zero fields: DefaultLimits');
	// TeamQuotas overrides it per team (zero fields: TeamQuota's). The
	// global limits protect the process, team quotas the neighbours.
	TeamQuota  TeamQuota
	TeamQuotas map[string]TeamQuota
	// MayGrow, when set, is asked before the tracker allocates a bigger
	// series table (extra bytes); false keeps the table and sketches the
	// new series instead, so a memory limit holds even during a resize.
	MayGrow func(extra int64) bool
}

// TeamQuota bounds what one team's streams hold.
type TeamQuota struct {
	MaxStreams int // streams the team owns; more are refused (RefusedTeamStreams)
	MaxSeries  int // series held exactly over the team's streams; more are sketched (SketchedTeamSeries)
	// MaxDatapointsPerSecond is the team's ingest rate over its streams;
	// past it (and a burst of burstSeconds of it) resources are refused
	// (RefusedTeamDatapoints) until the rate allows again.
	MaxDatapointsPerSecond int
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxStreams: 1000, ExactSeriesPerStream: 1_000_000, MaxSeriesTotal: 4_000_000,
		MaxMetricsPerStream: 10_000, MaxLabelSetsPerStream: 1_000_000, MaxLabelKeysPerStream: 100_000, Staleness: 5 * time.Minute,
		TeamQuota: TeamQuota{MaxStreams: 250, MaxSeries: 1_000_000, MaxDatapointsPerSecond: 1_000_000},
	}
}

// quotaOf is team's quota: its override, else the default, field by field.
func (l *Limits) quotaOf(team string) TeamQuota {
	q := l.TeamQuota
	if o, ok := l.TeamQuotas[team]; ok {
		if o.MaxStreams > 0 {
			q.MaxStreams = o.MaxStreams
		}
		if o.MaxSeries > 0 {
			q.MaxSeries = o.MaxSeries
		}
		if o.MaxDatapointsPerSecond > 0 {
			q.MaxDatapointsPerSecond = o.MaxDatapointsPerSecond
		}
	}
	return q
}

// teamUsage is what one team's streams hold. Entries exist while the team
// owns a stream, so the map is bounded by the stream limit.
type teamUsage struct {
	quota   TeamQuota
	streams int          // under Tracker.mu
	series  atomic.Int64 // exact series over the team's streams
	rate    *rateBucket  // datapoints/s
}

// Refusal reasons, as counted in reports and self-metrics.
const (
	RefusedStreamLimit   = "stream_limit"
	RefusedMetricLimit   = "metric_limit"
	RefusedEmptyName     = "empty_metric_name"
	RefusedInvalidStream = "invalid_stream"
	RefusedForbidden     = "stream_forbidden"  // the stream belongs to a team the caller does not write for
	RefusedTeamStreams   = "team_stream_quota" // the team owns its quota of streams
	SketchedTeamSeries   = "team_series_quota" // the team's streams hold its quota of exact series
	SketchedSeriesLimit  = "series_limit"      // series counted in the sketch, not exactly
	SketchedTotalLimit   = "total_series_limit"
	SketchedLabelSets    = "label_set_limit" // label sets or label names per stream
	SketchedMemoryLimit  = "memory_limit"
)

// overflowPrecision sizes the sketch of series past the exact bound
// (16 KiB, 0.81% standard error); intervalPrecision the per-rollup sketch.
const (
	overflowPrecision = 14
	intervalPrecision = 12
	bucketSeconds     = 10
	rateBuckets       = 7 // 6 complete 10 s buckets (one minute) + the current one
)

// Tracker holds every stream.
type Tracker struct {
	limits Limits
	epoch  time.Time
	now    func() time.Time

	mu      sync.RWMutex
	streams map[string]*Stream
	teams   map[string]*teamUsage
	// reserved holds experiments' variant stream reservations (bounded
	// by MaxReservations).
	reserved map[string]*reservation

	totalSeries atomic.Int64
	refusedMu   sync.Mutex
	refused     map[string]int64 // refusals not tied to a stream
}

// New returns an empty tracker. now may be nil (time.Now).
func New(l Limits, now func() time.Time) *Tracker {
	d := DefaultLimits()
	if l.MaxStreams <= 0 {
		l.MaxStreams = d.MaxStreams
	}
	if l.ExactSeriesPerStream <= 0 {
		l.ExactSeriesPerStream = d.ExactSeriesPerStream
	}
	if l.MaxSeriesTotal <= 0 {
		l.MaxSeriesTotal = d.MaxSeriesTotal
	}
	if l.MaxMetricsPerStream <= 0 {
		l.MaxMetricsPerStream = d.MaxMetricsPerStream
	}
	if l.MaxLabelSetsPerStream <= 0 {
		l.MaxLabelSetsPerStream = d.MaxLabelSetsPerStream
	}
	if l.MaxLabelKeysPerStream <= 0 {
		l.MaxLabelKeysPerStream = d.MaxLabelKeysPerStream
	}
	if l.Staleness <= 0 {
		l.Staleness = d.Staleness
	}
	if l.TeamQuota.MaxStreams <= 0 {
		l.TeamQuota.MaxStreams = d.TeamQuota.MaxStreams
	}
	if l.TeamQuota.MaxSeries <= 0 {
		l.TeamQuota.MaxSeries = d.TeamQuota.MaxSeries
	}
	if l.TeamQuota.MaxDatapointsPerSecond <= 0 {
		l.TeamQuota.MaxDatapointsPerSecond = d.TeamQuota.MaxDatapointsPerSecond
	}
	if now == nil {
		now = time.Now
	}
	t := &Tracker{limits: l, now: now, streams: map[string]*Stream{}, teams: map[string]*teamUsage{}, reserved: map[string]*reservation{}, refused: map[string]int64{}}
	t.epoch = now().Add(-time.Hour) // so that "last seen" 0 is long ago
	return t
}

// SetMayGrow installs Limits.MayGrow; call it before ingest starts.
func (t *Tracker) SetMayGrow(fn func(extra int64) bool) { t.limits.MayGrow = fn }

// StreamCount returns the number of streams.
func (t *Tracker) StreamCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.streams)
}

// Limits returns the limits in force.
func (t *Tracker) Limits() Limits { return t.limits }

// Now is the tracker's clock.
func (t *Tracker) Now() time.Time { return t.now() }

// sec converts a time to tracker seconds.
func (t *Tracker) sec(tm time.Time) uint32 { return uint32(tm.Sub(t.epoch) / time.Second) }

func (t *Tracker) timeOf(sec uint32) time.Time { return t.epoch.Add(time.Duration(sec) * time.Second) }

// TotalSeries is the number of series held exactly over all streams.
func (t *Tracker) TotalSeries() int64 { return t.totalSeries.Load() }

func (t *Tracker) refuse(reason string, n int64) {
	t.refusedMu.Lock()
	t.refused[reason] += n
	t.refusedMu.Unlock()
}

// Refused returns tracker-wide refusals by reason.
func (t *Tracker) Refused() map[string]int64 {
	t.refusedMu.Lock()
	defer t.refusedMu.Unlock()
	out := make(map[string]int64, len(t.refused))
	for k, v := range t.refused {
		out[k] = v
	}
	return out
}

// ValidStream reports whether id is a valid stream id: a name, or
// `<experiment>--<variant>`.
func ValidStream(id string) bool {
	if validPart(id) {
		return true
	}
	for i := 0; i+1 < len(id); i++ {
		if id[i] == '-' && id[i+1] == '-' && validPart(id[:i]) && validPart(id[i+2:]) {
			return true
		}
	}
	return false
}

// validPart reports whether b matches [A-Za-z0-9_-]{1,64}. It is checked
// on every ingest request, where a regexp cost more than the rest of the
// header handling.
func validPart[T string | []byte](b T) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Stream returns a stream by id, or nil.
func (t *Tracker) Stream(id string) *Stream {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.streams[id]
}

// Streams returns every stream.
func (t *Tracker) Streams() []*Stream {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Stream, 0, len(t.streams))
	for _, s := range t.streams {
		out = append(out, s)
	}
	return out
}

// streamBytes looks a stream up by its id bytes without allocating, and
// creates it (owned by team) when absent and the limit and the team's
// quota allow; otherwise it returns the refusal reason.
//
// A reserved stream (an experiment's variant stream) admits only the
// reservation's agents when the caller is checked (RefusedForbidden
// otherwise), and is created owned by the reservation's team.
func (t *Tracker) streamBytes(id []byte, team string, checked bool, agent string) (*Stream, string) {
	t.mu.RLock()
	s := t.streams[string(id)]
	r := t.reservationOf(string(id))
	t.mu.RUnlock()
	if r != nil && !r.admits(checked, agent) {
		return nil, RefusedForbidden
	}
	if s != nil {
		return s, ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s = t.streams[string(id)]; s != nil {
		return s, ""
	}
	if r = t.reservationOf(string(id)); r != nil {
		if !r.admits(checked, agent) {
			return nil, RefusedForbidden
		}
		team = r.team
	}
	if len(t.streams) >= t.limits.MaxStreams {
		return nil, RefusedStreamLimit
	}
	if team == "" {
		team = apiv1.DefaultStream
	}
	now := t.now()
	u := t.teams[team]
	if u == nil {
		q := t.limits.quotaOf(team)
		u = &teamUsage{quota: q, rate: newRateBucket(q.MaxDatapointsPerSecond, now)}
	}
	if u.streams >= u.quota.MaxStreams {
		return nil, RefusedTeamStreams
	}
	u.streams++
	t.teams[team] = u
	s = newStream(t, string(id), team, now)
	s.usage = u
	t.streams[s.name] = s
	return s, ""
}

// TeamUsage returns the streams and exact series a team's streams hold,
// and its quota.
func (t *Tracker) TeamUsage(team string) (streams int, series int64, q TeamQuota) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if u := t.teams[team]; u != nil {
		return u.streams, u.series.Load(), u.quota
	}
	return 0, 0, t.limits.quotaOf(team)
}

// Stream is one stream's inventory. Its mutex is held while a request's
// ResourceMetrics is applied, and briefly to snapshot for reports.
type Stream struct {
	t       *Tracker
	name    string
	team    string
	usage   *teamUsage // the team's share, shared by its streams
	created time.Time

	mu        sync.Mutex
	tab       table
	metrics   []*metric
	metricIdx map[string]uint32
	sets      []labelSet
	setIdx    map[uint64]uint32 // label-set hash -> id
	freeSets  []uint32
	keys      map[string]uint32 // label key -> id, bounded by the label sets
	keyNames  []string

	lastSeen time.Time
	buckets  [rateBuckets]counts
	total    counts
	rolled   counts    // totals at the last rollup
	rolledAt time.Time // when the last rollup closed

	overflow     []*hll.Sketch // one per minute of the staleness window, past the exact bound
	overflowSeen []uint32      // the minute each ring entry covers
	interval     *hll.Sketch   // series seen since the last rollup
	intervalFrom uint32

	// How often the next datapoint was the next series in the table
	// (decayed): when it seldom is, finish warms lookups up first.
	seqTries, seqMisses uint32
	warmups             uint64 // windows warmed up (tests read it)

	refused map[string]int64
}

type counts struct {
	epoch     uint32 // bucket index (seconds / bucketSeconds)
	dp, bytes uint64
	newSeries uint64
}

type labelSet struct {
	attrs []attr
	hash  uint64
	refs  uint32
}

type attr struct {
	key uint32
	val string
	h   uint64
}

type metric struct {
	name     string
	typ      otlpwire.MetricType
	nameHash uint64
	series   int64
	dp       [rateBuckets]counts // only dp used
}

func newStream(t *Tracker, name, team string, now time.Time) *Stream {
	s := &Stream{
		t: t, name: name, team: team, created: now, lastSeen: now,
		metricIdx: map[string]uint32{}, setIdx: map[uint64]uint32{},
		keys: map[string]uint32{}, interval: hll.New(intervalPrecision), refused: map[string]int64{},
	}
	s.intervalFrom = t.sec(now)
	return s
}

// Remove forgets a stream.
func (t *Tracker) Remove(id string) {
	t.mu.Lock()
	s := t.streams[id]
	delete(t.streams, id)
	if s != nil {
		if s.usage.streams--; s.usage.streams == 0 {
			delete(t.teams, s.team)
		}
	}
	t.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		t.totalSeries.Add(int64(-s.tab.n))
		s.usage.series.Add(int64(-s.tab.n))
		s.mu.Unlock()
	}
}

// LastSeen returns when the stream last received data.
func (s *Stream) LastSeen() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeen
}

// Summary is the stream's list entry (cheap: no series copy).
func (s *Stream) Summary() apiv1.StreamSummary { return s.summaryCounts() }

// Name returns the stream id.
func (s *Stream) Name() string { return s.name }

// Team returns the owning team.
func (s *Stream) Team() string { return s.team }

// Created returns when the stream was first seen.
func (s *Stream) Created() time.Time { return s.created }

func bucketAdd(b *[rateBuckets]counts, sec uint32, dp, bytes, newSeries uint64) {
	e := sec / bucketSeconds
	c := &b[e%rateBuckets]
	if c.epoch != e {
		*c = counts{epoch: e}
	}
	c.dp += dp
	c.bytes += bytes
	c.newSeries += newSeries
}

// internSet returns the id of the label set with hash h, creating it from
// decode() when new. ok is false when the set limit is reached.
func (s *Stream) internSet(h uint64, decode func([]otlpwire.Attr) []otlpwire.Attr, scratch *[]otlpwire.Attr) (uint32, bool) {
	if id, ok := s.setIdx[h]; ok {
		s.sets[id].refs++
		return id, true
	}
	if len(s.setIdx) >= s.t.limits.MaxLabelSetsPerStream {
		return 0, false
	}
	*scratch = decode((*scratch)[:0])
	newKeys := 0
	for _, a := range *scratch {
		if _, ok := s.keys[a.Key]; !ok {
			newKeys++
		}
	}
	if len(s.keys)+newKeys > s.t.limits.MaxLabelKeysPerStream {
		return 0, false
	}
	attrs := make([]attr, len(*scratch))
	for i, a := range *scratch {
		kid, ok := s.keys[a.Key]
		if !ok {
			kid = uint32(len(s.keyNames))
			s.keys[a.Key] = kid
			s.keyNames = append(s.keyNames, a.Key)
		}
		attrs[i] = attr{key: kid, val: a.Value, h: a.Hash}
	}
	ls := labelSet{attrs: attrs, hash: h, refs: 1}
	var id uint32
	if n := len(s.freeSets); n > 0 {
		id = s.freeSets[n-1]
		s.freeSets = s.freeSets[:n-1]
		s.sets[id] = ls
	} else {
		id = uint32(len(s.sets))
		s.sets = append(s.sets, ls)
	}
	s.setIdx[h] = id
	return id, true
}

func (s *Stream) releaseSet(id uint32) {
	ls := &s.sets[id]
	ls.refs--
	if ls.refs == 0 {
		delete(s.setIdx, ls.hash)
		*ls = labelSet{}
		s.freeSets = append(s.freeSets, id)
	}
}

// addOverflow counts a series that is not held exactly.
func (s *Stream) addOverflow(h uint64, sec uint32, reason string) {
	minute := sec / 60
	if s.overflow == nil {
		n := int(s.t.limits.Staleness/time.Minute) + 1
		s.overflow = make([]*hll.Sketch, n)
		s.overflowSeen = make([]uint32, n)
		for i := range s.overflow {
			s.overflow[i] = hll.New(overflowPrecision)
		}
	}
	i := int(minute % uint32(len(s.overflow)))
	if s.overflowSeen[i] != minute {
		s.overflow[i].Reset()
		s.overflowSeen[i] = minute
	}
	s.overflow[i].Add(h)
	s.refused[reason]++
}

// Sweep forgets series not seen within the staleness window and returns how
// many it removed. Rollups call it every interval.
func (s *Stream) Sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweepLocked(s.t.sec(now))
}

func (s *Stream) sweepLocked(nowSec uint32) int {
	stale := uint32(s.t.limits.Staleness / time.Second)
	if nowSec < stale {
		return 0
	}
	cutoff := nowSec - stale
	removed := s.tab.sweep(func(sr series) bool {
		if sr.last >= cutoff {
			return false
		}
		s.releaseSet(sr.res)
		s.releaseSet(sr.dp)
		s.metrics[sr.metric].series--
		return true
	})
	s.t.totalSeries.Add(int64(-removed))
	s.usage.series.Add(int64(-removed))
	return removed
}

// SetFamilyType records a metric type sent as remote write metadata for a
// metric family: the family's series (family, and the _total, _bucket,
// _count and _sum series its type implies) that the stream holds take it.
// Series seen later take it from the next metadata (Prometheus resends it
// every minute); until then the report infers their type from the name.
func (s *Stream) SetFamilyType(family []byte, t otlpwire.MetricType) {
	var suffixes []string
	switch t {
	case otlpwire.TypeSum:
		suffixes = []string{"", "_total"}
	case otlpwire.TypeHistogram:
		suffixes = []string{"_bucket", "_count", "_sum", ""}
	case otlpwire.TypeSummary:
		suffixes = []string{"", "_count", "_sum"}
	default:
		suffixes = []string{""}
	}
	buf := make([]byte, 0, len(family)+8)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, suf := range suffixes {
		buf = append(append(buf[:0], family...), suf...)
		if id, ok := s.metricIdx[string(buf)]; ok {
			s.metrics[id].typ = t
		}
	}
}
