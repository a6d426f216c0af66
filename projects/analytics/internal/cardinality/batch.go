package cardinality

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/remotewrite"
)

// Batch applies one ingest request to the tracker. It implements
// otlpwire.Sink and remotewrite.Sink.
//
// It works in two phases so that a request is applied whole or not at all
// while its bytes are walked only once: the walker (which validates as it
// goes) records resources, metrics and points into the batch; Done applies
// them, Discard drops them. A request with more than maxRecorded points
// overflows: discard it, then walk it again (it is known valid) into a
// Direct batch, which applies as it goes.
type Batch struct {
	t    *Tracker
	team string // owning team for streams this request creates
	// teams the caller writes for: a stream owned by another team is
	// refused (RefusedForbidden). nil: unrestricted (open ingest, admins).
	teams    []string
	restrict bool
	// checked: the caller is authenticated, so reserved streams admit only
	// their agents; agent is the agent the caller's credential writes for.
	checked  bool
	agent    string
	headerID []byte // X-Phoenix-Stream or nil
	sec      uint32
	nowNs    int64  // the request's time, for the team's rate bucket
	charged  uint64 // points applied to cur not yet charged to its team's rate
	direct   bool
	overflow bool
	rw       bool

	// Recorded, in request order.
	resBuf  []recRes
	metBuf  []recMetric
	pending []recPoint
	applied int // metBuf entries applied (direct mode)

	// Apply state.
	cur     *Stream // locked while set
	curRes  int     // resBuf index entered
	curWhy  string  // why entering curRes failed, if it did
	resFail bool    // the current resource's label set was refused
	idBuf   []byte
	scratch []otlpwire.Attr
	seg     []segMetric
	warm    uint64          // sum of warm-up loads, kept so they are not optimized away
	mcache  [16]mcacheEntry // recent metric lookups of the current stream

	res Result
	// Datapoints the walker refused for the limits, by reason; counted at
	// Done, so a request refused whole counts none.
	refusals [otlpwire.NumRefusals]int64
}

type recRes struct {
	r otlpwire.Resource
}

type recMetric struct {
	name  []byte
	typ   otlpwire.MetricType
	res   int32 // resBuf index
	first int32 // pending index of its first point
}

// recPoint is one recorded datapoint, kept small (40 bytes): the walk
// writes one per datapoint.
type recPoint struct {
	attrHash uint64
	h        uint64 // series key, computed at apply
	value    float64
	dp       unsafe.Pointer // the datapoint message in the request body
	dpLen    uint32
	n        uint32 // samples (remote write) or 1
}

func (p *recPoint) msg() []byte { return unsafe.Slice((*byte)(p.dp), p.dpLen) }

// Result is what a batch did.
type Result struct {
	Points   int64  // datapoints taken
	Rejected int64  // datapoints refused
	Reason   string // first refusal reason
	// Forbidden counts the refused datapoints whose stream belongs to a
	// team the caller does not write for; ForbiddenStreams names those
	// streams (at most maxForbiddenNames, in request order).
	Forbidden        int64
	ForbiddenStreams []string
	// Throttled counts the refused datapoints whose team was over its
	// datapoints/s quota (RefusedTeamDatapoints); RetryAfter is how long
	// until the longest-waiting of those teams may send again.
	Throttled  int64
	RetryAfter time.Duration
}

// maxForbiddenNames bounds the stream names a refusal reports.
const maxForbiddenNames = 8

// maxRecorded bounds the points a batch holds before applying; chunk is how
// many points a direct batch applies at once.
const (
	maxRecorded = 1 << 16
	chunk       = 256
)

var batchPool = sync.Pool{New: func() any { return &Batch{} }}

// Batch starts a request. stream is the validated X-Phoenix-Stream header
// ("" when absent); team owns any stream the request creates.
func (t *Tracker) Batch(stream, team string) *Batch {
	b := batchPool.Get().(*Batch)
	*b = Batch{t: t, team: team, resBuf: b.resBuf[:0], metBuf: b.metBuf[:0], pending: b.pending[:0],
		idBuf: b.idBuf[:0], scratch: b.scratch[:0], headerID: b.headerID[:0], seg: b.seg[:0], curRes: -1}
	// mcache is zeroed by the assignment: entries never outlive a request.
	if stream == "" {
		b.headerID = nil
	} else {
		b.headerID = append(b.headerID, stream...)
	}
	now := t.now()
	b.sec, b.nowNs = t.sec(now), now.UnixNano()
	return b
}

// Restrict limits the batch to streams owned by one of teams: points of
// another team's stream are refused with RefusedForbidden, never applied or
// counted in that stream. Ownership is decided once per stream switch (a
// resource, or a whole remote write request), not per datapoint. Without a
// call the batch is unrestricted (open ingest, admins).
func (b *Batch) Restrict(teams []string) { b.teams, b.restrict = teams, true }

// Caller says the batch has an authenticated caller, writing for agent
// ("" when its credential is not an agent's): reserved variant streams
// admit it only when agent is one of their experiment's agents. Without a
// call (open ingest) reservations admit every write.
func (b *Batch) Caller(agent string) { b.checked, b.agent = true, agent }

// SetDirect makes the batch apply as it records (for requests already
// validated, or too big to hold).
func (b *Batch) SetDirect() { b.direct = true }

// Overflowed reports that the request had too many points to hold.
func (b *Batch) Overflowed() bool { return b.overflow }

// Done applies what is recorded, releases the stream lock and returns the
// batch to the pool; the batch must not be used afterwards.
func (b *Batch) Done() Result {
	if !b.overflow {
		b.apply()
	}
	b.unlock()
	for r, n := range b.refusals {
		if n > 0 {
			b.reject(n, otlpwire.Refusal(r).String())
		}
	}
	res := b.res
	b.release()
	return res
}

// Discard drops what is recorded and returns the batch to the pool.
func (b *Batch) Discard() {
	b.unlock()
	b.release()
}

func (b *Batch) release() {
	// Drop references into the request body before pooling.
	clear(b.resBuf)
	clear(b.metBuf)
	clear(b.pending)
	b.t = nil
	batchPool.Put(b)
}

func (b *Batch) unlock() {
	if b.cur != nil {
		if b.charged > 0 {
			b.cur.usage.rate.charge(b.nowNs, b.charged)
			b.charged = 0
		}
		b.cur.mu.Unlock()
		b.cur = nil
	}
}

// Resource implements otlpwire.Sink.
func (b *Batch) Resource(r *otlpwire.Resource) {
	if b.overflow {
		return
	}
	b.resBuf = append(b.resBuf, recRes{r: *r})
}

// Metric implements otlpwire.Sink.
func (b *Batch) Metric(name []byte, t otlpwire.MetricType) {
	if b.overflow {
		return
	}
	e := grow(&b.metBuf)
	e.name, e.typ, e.res, e.first = name, t, int32(len(b.resBuf)-1), int32(len(b.pending))
}

// grow extends *s by one element and returns it. Appending a composite
// literal builds it on the stack and copies it with 16-byte moves that
// straddle the literal's narrower field stores, which stalls store-to-load
// forwarding; the walk and apply do this for every metric and datapoint, so
// the fields are written in place instead. The element's previous contents
// are overwritten field by field by the callers (every field).
func grow[T any](s *[]T) *T {
	n := len(*s)
	if n < cap(*s) {
		*s = (*s)[:n+1]
	} else {
		var zero T
		*s = append(*s, zero)
	}
	return &(*s)[n]
}

// Point implements otlpwire.Sink.
func (b *Batch) Point(attrHash uint64, value float64, dp []byte) {
	b.record(attrHash, value, dp, 1)
}

// Refuse implements otlpwire.Sink: a datapoint over the limits.
func (b *Batch) Refuse(r otlpwire.Refusal) { b.refusals[r]++ }

// RemoteWrite starts a remote write request: one stream (the header's or
// default) for all of it. Remote write batches are always direct.
func (b *Batch) RemoteWrite(size int) {
	b.rw, b.direct = true, true
	b.resBuf = append(b.resBuf, recRes{r: otlpwire.Resource{Size: size}})
}

// Series implements remotewrite.Sink: one TimeSeries with n samples.
func (b *Batch) Series(name []byte, labelsHash uint64, value float64, ts []byte, n int) {
	if len(b.metBuf) == 0 || string(b.metBuf[len(b.metBuf)-1].name) != string(name) {
		b.Metric(name, otlpwire.TypeUnknown)
	}
	b.record(labelsHash, value, ts, n)
}

func (b *Batch) record(attrHash uint64, value float64, dp []byte, n int) {
	if b.overflow {
		return
	}
	p := grow(&b.pending)
	p.attrHash, p.h, p.value = attrHash, 0, value
	p.dp, p.dpLen, p.n = unsafe.Pointer(unsafe.SliceData(dp)), uint32(len(dp)), uint32(n)
	switch {
	case b.direct && len(b.pending) >= chunk:
		b.apply()
	case !b.direct && len(b.pending) >= maxRecorded:
		b.overflow = true
	}
}

// forbid remembers a stream refused for ownership, for the refusal message.
func (b *Batch) forbid(name string) {
	if len(b.res.ForbiddenStreams) < maxForbiddenNames && !slices.Contains(b.res.ForbiddenStreams, name) {
		b.res.ForbiddenStreams = append(b.res.ForbiddenStreams, name)
	}
}

func (b *Batch) reject(n int64, reason string) {
	b.res.Rejected += n
	switch reason {
	case RefusedForbidden:
		b.res.Forbidden += n
	case RefusedTeamDatapoints:
		b.res.Throttled += n
	}
	if b.res.Reason == "" {
		b.res.Reason = reason
	}
	if b.cur != nil {
		b.cur.refused[reason] += n
	} else {
		b.t.refuse(reason, n)
	}
}

// streamID renders the stream a resource belongs to into idBuf; ok is false
// when the routing attributes name an invalid stream.
func (b *Batch) streamID(r *otlpwire.Resource) bool {
	b.idBuf = b.idBuf[:0]
	switch {
	case r.Experiment != nil && r.Variant != nil:
		if !validPart(r.Experiment) || !validPart(r.Variant) {
			return false
		}
		b.idBuf = append(append(append(b.idBuf, r.Experiment...), "--"...), r.Variant...)
	case b.headerID != nil:
		b.idBuf = append(b.idBuf, b.headerID...)
	default:
		b.idBuf = append(b.idBuf, apiv1.DefaultStream...)
	}
	return true
}

// enterResource switches to resource i's stream (locking it) and accounts
// the resource's bytes. Points of the previous stream are applied first.
// It returns a refusal reason, or "".
func (b *Batch) enterResource(i int) string {
	b.curRes = i
	r := &b.resBuf[i].r
	if !b.streamID(r) {
		b.finish()
		b.unlock()
		return RefusedInvalidStream
	}
	if b.cur == nil || b.cur.name != string(b.idBuf) {
		b.finish()
		b.unlock()
		s, why := b.t.streamBytes(b.idBuf, b.team, b.checked, b.agent)
		if s == nil {
			if why == RefusedForbidden {
				b.forbid(string(b.idBuf))
			}
			return why
		}
		if b.restrict && !slices.Contains(b.teams, s.team) {
			b.forbid(s.name)
			return RefusedForbidden
		}
		// The team's datapoints/s quota: checked once per stream switch,
		// charged with the points applied when the batch leaves the stream.
		if ok, wait := s.usage.rate.admit(b.nowNs); !ok {
			b.res.RetryAfter = max(b.res.RetryAfter, wait)
			return RefusedTeamDatapoints
		}
		s.mu.Lock()
		b.cur = s
		if t := b.t.timeOf(b.sec); t.After(s.lastSeen) {
			s.lastSeen = t
		}
	}
	b.cur.total.bytes += uint64(r.Size)
	bucketAdd(&b.cur.buckets, b.sec, 0, uint64(r.Size), 0)
	return ""
}

// segMetric is a resolved metric whose points wait in the segment.
type segMetric struct {
	m     *metric
	metID uint32
	rm    int // metBuf index
	first int // pending range
	end   int
}

// apply applies every recorded metric and point. Points are applied per
// stream segment in two passes: the first resolves metrics, counts, hashes
// every point and touches its home slot (independent loads the CPU
// overlaps), the second looks the series up, now in cache. On a table
// bigger than the cache the misses are most of a datapoint's cost, and a
// metric has only a few points per resource, so the overlap has to span
// metrics and resources.
func (b *Batch) apply() {
	for mi := b.applied; mi < len(b.metBuf); mi++ {
		rm := &b.metBuf[mi]
		end := len(b.pending)
		if mi+1 < len(b.metBuf) {
			end = int(b.metBuf[mi+1].first)
		}
		first := int(rm.first)
		if first == end {
			continue
		}
		pts := b.pending[first:end]
		reason := b.curWhy
		if int(rm.res) != b.curRes {
			reason = b.enterResource(int(rm.res))
			b.curWhy = reason
		}
		var m *metric
		var metID uint32
		if reason == "" {
			m, metID, reason = b.metric(rm)
		}
		if reason != "" {
			for _, p := range pts {
				b.reject(int64(p.n), reason)
			}
			continue
		}
		s := b.cur
		res := &b.resBuf[rm.res].r
		var n uint64
		for i := range pts {
			pts[i].h = fixHash(otlpwire.SeriesKey(m.nameHash, res.Hash+pts[i].attrHash))
			n += uint64(pts[i].n)
		}
		b.res.Points += int64(n)
		b.charged += n
		s.total.dp += n
		bucketAdd(&s.buckets, b.sec, n, 0, 0)
		bucketAdd(&m.dp, b.sec, n, 0, 0)
		sg := grow(&b.seg)
		sg.m, sg.metID, sg.rm, sg.first, sg.end = m, metID, mi, first, end
	}
	b.finish()
	if !b.direct {
		b.applied = len(b.metBuf)
		return
	}
	// A direct batch keeps only the current resource and metric: the walk
	// may continue with more points of them.
	b.pending = b.pending[:0]
	b.applied = 0
	if len(b.resBuf) == 0 {
		b.metBuf = b.metBuf[:0]
		return
	}
	lastRes := len(b.resBuf) - 1
	entered := b.curRes == lastRes
	b.resBuf = append(b.resBuf[:0], b.resBuf[lastRes])
	b.curRes = -1
	if entered {
		b.curRes = 0 // stays locked; its bytes are counted
	}
	if n := len(b.metBuf); n > 0 && int(b.metBuf[n-1].res) == lastRes {
		last := b.metBuf[n-1]
		last.res, last.first = 0, 0
		b.metBuf = append(b.metBuf[:0], last)
	} else {
		b.metBuf = b.metBuf[:0]
	}
}

// finish looks up the segment's points in the current stream.
//
// The table keeps series in arrival order and senders repeat their order, so
// each point is first compared with the series after the previous point's:
// a slot in a cache line just touched or the next one. Points that miss that
// guess go through the index. When a stream's points seldom follow its order
// (seqMisses above a quarter), each window of points is warmed up first: the
// index slots of all its points are loaded, then the array slots they point
// to (independent loads: as many misses in flight as the CPU allows), and
// only then looked up, while still in L1.
func (b *Batch) finish() {
	if len(b.seg) == 0 {
		return
	}
	s := b.cur
	tab := &s.tab
	warm := s.seqMisses*4 > s.seqTries && tab.idx != nil
	var guess [warmWindow]int32
	prev, misses, tries := -1, uint32(0), uint32(0)
	lastRes := int32(-1)
	si, pi := 0, b.seg[0].first
	for si < len(b.seg) {
		if warm {
			var acc uint64
			sj, pj := si, pi
			for n := 0; n < warmWindow && sj < len(b.seg); n++ {
				acc += tab.idx[b.pending[pj].h&tab.mask]
				if pj++; pj == b.seg[sj].end {
					if sj++; sj < len(b.seg) {
						pj = b.seg[sj].first
					}
				}
			}
			sj, pj = si, pi
			for n := 0; n < warmWindow && sj < len(b.seg); n++ {
				g := tab.guess(b.pending[pj].h)
				if g >= 0 {
					acc += uint64(tab.hot[g].last)
				}
				guess[n] = int32(g)
				if pj++; pj == b.seg[sj].end {
					if sj++; sj < len(b.seg) {
						pj = b.seg[sj].first
					}
				}
			}
			b.warm += acc
			s.warmups++
		}
		for n := 0; n < warmWindow && si < len(b.seg); n++ {
			sm := &b.seg[si]
			rm := &b.metBuf[sm.rm]
			if rm.res != lastRes {
				b.resFail, lastRes = false, rm.res // a refused label set is per resource
			}
			p := &b.pending[pi]
			i := prev + 1
			tries++
			if i <= 0 || i >= len(tab.hot) || tab.hot[i].hash != p.h {
				misses++
				i = -1
				if warm {
					if g := int(guess[n]); g >= 0 && g < len(tab.hot) && tab.hot[g].hash == p.h {
						i = g
					}
				}
				if i < 0 {
					i = tab.find(p.h)
				}
			}
			if i >= 0 {
				e := &tab.hot[i]
				if e.last < s.intervalFrom {
					s.interval.Add(p.h)
				}
				e.last = b.sec
				e.value = float32(p.value)
				prev = i
			} else if pos := b.newSeries(sm.m, sm.metID, rm.typ, &b.resBuf[rm.res].r, p); pos >= 0 {
				prev = pos
			}
			if pi++; pi == sm.end {
				if si++; si < len(b.seg) {
					pi = b.seg[si].first
				}
			}
		}
	}
	b.seg = b.seg[:0]
	s.seqTries += tries
	s.seqMisses += misses
	if s.seqTries > 1<<12 { // about the last four requests count
		s.seqTries /= 2
		s.seqMisses /= 2
	}
}

// warmWindow is how many points are warmed before being looked up: enough
// to overlap many misses, few enough that their slots stay in L1.
const warmWindow = 128

type mcacheEntry struct {
	s  *Stream
	m  *metric
	id uint32
}

// metric finds or creates the recorded metric in the current stream. The
// same few metric names repeat for every resource of a request, so a small
// cache in front of the stream's map saves most map lookups.
func (b *Batch) metric(rm *recMetric) (*metric, uint32, string) {
	if len(rm.name) == 0 {
		return nil, 0, RefusedEmptyName
	}
	s := b.cur
	name := rm.name
	ce := &b.mcache[(uint(len(name))^uint(name[len(name)-1])*7^uint(name[len(name)/2])*3)&15]
	if ce.s == s && ce.m.name == string(name) {
		if ce.m.typ == otlpwire.TypeUnknown {
			ce.m.typ = rm.typ
		}
		return ce.m, ce.id, ""
	}
	id, ok := s.metricIdx[string(rm.name)]
	if !ok {
		if len(s.metrics) >= b.t.limits.MaxMetricsPerStream {
			return nil, 0, RefusedMetricLimit
		}
		id = uint32(len(s.metrics))
		m := &metric{name: string(rm.name), typ: rm.typ, nameHash: otlpwire.NameHash(rm.name)}
		s.metrics = append(s.metrics, m)
		s.metricIdx[m.name] = id
	}
	m := s.metrics[id]
	if m.typ == otlpwire.TypeUnknown {
		m.typ = rm.typ
	}
	*ce = mcacheEntry{s: s, m: m, id: id}
	return m, id, ""
}

// newSeries is the slow path: a series the stream does not hold. It returns
// the series' position, or -1 when the series is not held exactly.
func (b *Batch) newSeries(m *metric, metID uint32, typ otlpwire.MetricType, res *otlpwire.Resource, p *recPoint) int {
	s, l, h := b.cur, &b.t.limits, p.h
	s.interval.Add(h)
	switch {
	case s.tab.n >= l.ExactSeriesPerStream:
		s.addOverflow(h, b.sec, SketchedSeriesLimit)
		return -1
	case b.t.totalSeries.Load() >= int64(l.MaxSeriesTotal):
		s.addOverflow(h, b.sec, SketchedTotalLimit)
		return -1
	case s.usage.series.Load() >= int64(s.usage.quota.MaxSeries):
		s.addOverflow(h, b.sec, SketchedTeamSeries)
		return -1
	case l.MayGrow != nil && s.tab.needsGrow() && !l.MayGrow(s.tab.growBytes()):
		s.addOverflow(h, b.sec, SketchedMemoryLimit)
		return -1
	case l.MayGrow != nil && s.total.newSeries%seriesPerCheck == seriesPerCheck-1 && !l.MayGrow(seriesPerCheck*seriesHeadroom):
		// Between table growths, new series still take label sets and
		// strings: check the heap every seriesPerCheck of them too.
		s.addOverflow(h, b.sec, SketchedMemoryLimit)
		return -1
	case b.resFail:
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return -1
	}
	raw := res.Raw
	resID, ok := s.internSet(res.Hash, func(dst []otlpwire.Attr) []otlpwire.Attr {
		return otlpwire.ResourceAttrs(dst, raw)
	}, &b.scratch)
	if !ok {
		b.resFail = true
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return -1
	}
	dp := p.msg()
	var dec func([]otlpwire.Attr) []otlpwire.Attr
	if b.rw {
		dec = func(dst []otlpwire.Attr) []otlpwire.Attr { return remotewrite.Labels(dst, dp) }
	} else {
		af := otlpwire.AttrField(typ)
		dec = func(dst []otlpwire.Attr) []otlpwire.Attr { return otlpwire.Attrs(dst, dp, af, false) }
	}
	// Datapoint sets hash apart from resource ones even when both are
	// empty, so mix in a constant.
	dpID, ok := s.internSet(p.attrHash^dpSetSalt, dec, &b.scratch)
	if !ok {
		s.releaseSet(resID)
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return -1
	}
	pos := s.tab.insert(series{hash: h, value: p.value, metric: metID, res: resID, dp: dpID, last: b.sec})
	m.series++
	s.total.newSeries++
	bucketAdd(&s.buckets, b.sec, 0, 0, 1)
	b.t.totalSeries.Add(1)
	s.usage.series.Add(1)
	return pos
}

const dpSetSalt = 0x3c6ef372fe94f82b

// seriesPerCheck new series pass between heap checks besides the table's
// growths; seriesHeadroom is what each is allowed for its label sets and
// strings (a process's resource set with a long command line is a few
// hundred bytes, shared by its series).
const (
	seriesPerCheck = 256
	seriesHeadroom = 512
)

var (
	_ otlpwire.Sink    = (*Batch)(nil)
	_ remotewrite.Sink = (*Batch)(nil)
)
