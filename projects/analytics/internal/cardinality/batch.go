package cardinality

import (
	"sync"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/remotewrite"
)

// Batch applies one ingest request to the tracker. It implements
// otlpwire.Sink and remotewrite.Sink. Get one with Tracker.Batch, call Done.
type Batch struct {
	t        *Tracker
	team     string // owning team for streams this request creates
	headerID []byte // X-Phoenix-Stream or nil
	sec      uint32

	cur     *Stream // locked while set
	res     otlpwire.Resource
	resFail bool // resource label set refused (limit)
	idBuf   []byte

	met        *metric
	metID      uint32
	metRefused string
	rw         bool

	scratch []otlpwire.Attr

	// Points wait here (up to pendingMax) so their table slots can be
	// loaded in parallel before they are applied; see flush.
	pending []pendingPoint
	resBuf  []otlpwire.Resource

	// Results.
	Points   int64
	Rejected int64
	Reason   string // first rejection reason
	streams  []string
}

type pendingPoint struct {
	h, attrHash uint64
	value       float64
	dp          []byte
	met         *metric
	metID       uint32
	res         uint32 // index into resBuf
	n           uint32
}

const pendingMax = 256

var batchPool = sync.Pool{New: func() any { return &Batch{} }}

// Batch starts applying a request. stream is the validated X-Phoenix-Stream
// header ("" when absent); team owns any stream the request creates.
func (t *Tracker) Batch(stream, team string) *Batch {
	b := batchPool.Get().(*Batch)
	*b = Batch{t: t, team: team, idBuf: b.idBuf[:0], scratch: b.scratch[:0], streams: b.streams[:0],
		pending: b.pending[:0], resBuf: b.resBuf[:0]}
	if stream != "" {
		b.headerID = append(b.headerID[:0], stream...)
	}
	b.sec = t.sec(t.now())
	return b
}

// Result is what a batch did.
type Result struct {
	Points   int64  // datapoints taken
	Rejected int64  // datapoints refused
	Reason   string // first refusal reason
}

// Done applies what is pending, releases the stream lock and returns the
// batch to the pool; the batch must not be used afterwards.
func (b *Batch) Done() Result {
	b.flush()
	b.unlock()
	res := Result{Points: b.Points, Rejected: b.Rejected, Reason: b.Reason}
	b.t = nil
	batchPool.Put(b)
	return res
}

func (b *Batch) unlock() {
	b.flush()
	if b.cur != nil {
		b.cur.mu.Unlock()
		b.cur = nil
	}
}

func (b *Batch) reject(n int64, reason string) {
	b.Rejected += n
	if b.Reason == "" {
		b.Reason = reason
	}
	if b.cur != nil {
		b.cur.refused[reason] += n
	} else {
		b.t.refuse(reason, n)
	}
}

// enter switches to the stream with the given id, creating it if allowed.
func (b *Batch) enter(id []byte, size int) {
	if b.cur != nil && string(b.cur.name) == string(id) {
		b.cur.total.bytes += uint64(size)
		bucketAdd(&b.cur.buckets, b.sec, 0, uint64(size), 0)
		return
	}
	b.unlock()
	s := b.t.streamBytes(id, b.team)
	if s == nil {
		return
	}
	s.mu.Lock()
	b.cur = s
	s.total.bytes += uint64(size)
	bucketAdd(&s.buckets, b.sec, 0, uint64(size), 0)
	if t := b.t.timeOf(b.sec); t.After(s.lastSeen) {
		s.lastSeen = t
	}
}

// Resource implements otlpwire.Sink.
func (b *Batch) Resource(r *otlpwire.Resource) {
	b.res = *r
	if len(b.resBuf) >= pendingMax {
		b.flush() // leaves resBuf = [b.res]
	} else {
		b.resBuf = append(b.resBuf, *r)
	}
	b.resFail = false
	b.met = nil
	b.idBuf = b.idBuf[:0]
	switch {
	case r.Experiment != nil && r.Variant != nil:
		if !validPart(r.Experiment) || !validPart(r.Variant) {
			b.unlock()
			b.metRefused = RefusedInvalidStream
			return
		}
		b.idBuf = append(append(append(b.idBuf, r.Experiment...), "--"...), r.Variant...)
	case b.headerID != nil:
		b.idBuf = append(b.idBuf, b.headerID...)
	default:
		b.idBuf = append(b.idBuf, apiv1.DefaultStream...)
	}
	b.metRefused = ""
	b.enter(b.idBuf, r.Size)
	if b.cur == nil {
		b.metRefused = RefusedStreamLimit
	}
}

// Metric implements otlpwire.Sink.
func (b *Batch) Metric(name []byte, t otlpwire.MetricType) {
	if b.cur == nil {
		b.met = nil
		if b.metRefused == "" {
			b.metRefused = RefusedStreamLimit
		}
		return
	}
	b.metRefused = ""
	b.met = nil
	if len(name) == 0 {
		b.metRefused = RefusedEmptyName
		return
	}
	s := b.cur
	id, ok := s.metricIdx[string(name)]
	if !ok {
		if len(s.metrics) >= b.t.limits.MaxMetricsPerStream {
			b.metRefused = RefusedMetricLimit
			return
		}
		id = uint32(len(s.metrics))
		m := &metric{name: string(name), typ: t, nameHash: otlpwire.NameHash(name)}
		s.metrics = append(s.metrics, m)
		s.metricIdx[m.name] = id
	}
	b.met, b.metID = s.metrics[id], id
	if b.met.typ == otlpwire.TypeUnknown {
		b.met.typ = t
	}
}

// Point implements otlpwire.Sink.
func (b *Batch) Point(attrHash uint64, value float64, dp []byte) {
	b.point(attrHash, value, dp, 1)
}

// Series implements remotewrite.Sink: one TimeSeries with n samples.
func (b *Batch) Series(name []byte, labelsHash uint64, value float64, ts []byte, n int) {
	if b.cur == nil || b.met == nil || b.met.name != string(name) {
		b.Metric(name, otlpwire.TypeUnknown)
	}
	b.point(labelsHash, value, ts, n)
}

// RemoteWrite enters the stream of a remote write request (the header's or
// default) and accounts its bytes.
func (b *Batch) RemoteWrite(size int) {
	b.rw = true
	b.res = otlpwire.Resource{}
	b.resBuf = append(b.resBuf, b.res)
	b.resFail, b.metRefused = false, ""
	id := b.headerID
	if id == nil {
		id = []byte(apiv1.DefaultStream)
	}
	b.enter(id, size)
	if b.cur == nil {
		b.metRefused = RefusedStreamLimit
	}
}

func (b *Batch) point(attrHash uint64, value float64, dp []byte, n int) {
	if b.met == nil {
		b.reject(int64(n), b.metRefused)
		return
	}
	s, m := b.cur, b.met
	b.Points += int64(n)
	s.total.dp += uint64(n)
	bucketAdd(&s.buckets, b.sec, uint64(n), 0, 0)
	bucketAdd(&m.dp, b.sec, uint64(n), 0, 0)
	h := fixHash(otlpwire.SeriesKey(m.nameHash, b.res.Hash+attrHash))
	b.pending = append(b.pending, pendingPoint{h: h, attrHash: attrHash, value: value, dp: dp, met: m, metID: b.metID,
		res: uint32(len(b.resBuf) - 1), n: uint32(n)})
	if len(b.pending) >= pendingMax {
		b.flush()
	}
}

// prefetchSink keeps the compiler from dropping flush's warm-up loads.
var prefetchSink uint64

// flush applies pending points. It first touches every point's home slot:
// the loads are independent, so the CPU overlaps their cache misses, and
// the lookups that follow hit the cache. On a table bigger than the cache
// this is most of the cost of a datapoint.
func (b *Batch) flush() {
	if len(b.pending) == 0 {
		b.resBuf = append(b.resBuf[:0], b.res)
		return
	}
	s := b.cur
	tab := &s.tab
	if tab.slots != nil {
		var acc uint64
		for i := range b.pending {
			acc += tab.slots[b.pending[i].h&tab.mask].hash
		}
		prefetchSink += acc
	}
	curRes, curMet, curMetID, curFail := b.res, b.met, b.metID, b.resFail
	lastRes := ^uint32(0)
	for i := range b.pending {
		p := &b.pending[i]
		if sr := tab.find(p.h); sr != nil {
			if sr.last < s.intervalFrom {
				s.interval.Add(p.h)
			}
			sr.last = b.sec
			sr.value = p.value
			continue
		}
		if p.res != lastRes {
			b.resFail, lastRes = false, p.res
		}
		b.res, b.met, b.metID = b.resBuf[p.res], p.met, p.metID
		b.newSeries(p.h, p.attrHash, p.value, p.dp)
	}
	b.res, b.met, b.metID = curRes, curMet, curMetID
	if lastRes != ^uint32(0) && lastRes != uint32(len(b.resBuf)-1) {
		b.resFail = curFail
	}
	b.pending = b.pending[:0]
	b.resBuf = append(b.resBuf[:0], b.res)
}

// newSeries is the slow path: a series the stream does not hold.
func (b *Batch) newSeries(h, attrHash uint64, value float64, dp []byte) {
	s, m, l := b.cur, b.met, &b.t.limits
	s.interval.Add(h)
	switch {
	case s.tab.n >= l.ExactSeriesPerStream:
		s.addOverflow(h, b.sec, SketchedSeriesLimit)
		return
	case b.t.totalSeries.Load() >= int64(l.MaxSeriesTotal):
		s.addOverflow(h, b.sec, SketchedTotalLimit)
		return
	case l.MayGrow != nil && s.tab.needsGrow() && !l.MayGrow(s.tab.growBytes()):
		s.addOverflow(h, b.sec, SketchedMemoryLimit)
		return
	}
	if b.resFail {
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return
	}
	raw := b.res.Raw
	resID, ok := s.internSet(b.res.Hash, func(dst []otlpwire.Attr) []otlpwire.Attr {
		return otlpwire.ResourceAttrs(dst, raw)
	}, &b.scratch)
	if !ok {
		b.resFail = true
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return
	}
	var dec func([]otlpwire.Attr) []otlpwire.Attr
	if b.rw {
		dec = func(dst []otlpwire.Attr) []otlpwire.Attr { return remotewrite.Labels(dst, dp) }
	} else {
		af := otlpwire.AttrField(m.typ)
		dec = func(dst []otlpwire.Attr) []otlpwire.Attr { return otlpwire.Attrs(dst, dp, af, false) }
	}
	// Datapoint sets hash apart from resource ones even when both are
	// empty, so mix in a constant.
	dpID, ok := s.internSet(attrHash^dpSetSalt, dec, &b.scratch)
	if !ok {
		s.releaseSet(resID)
		s.addOverflow(h, b.sec, SketchedLabelSets)
		return
	}
	sr := series{hash: h, value: value, metric: b.metID, res: resID, dp: dpID, last: b.sec}
	s.tab.insert(sr)
	m.series++
	s.total.newSeries++
	bucketAdd(&s.buckets, b.sec, 0, 0, 1)
	b.t.totalSeries.Add(1)
}

const dpSetSalt = 0x3c6ef372fe94f82b

var (
	_ otlpwire.Sink    = (*Batch)(nil)
	_ remotewrite.Sink = (*Batch)(nil)
)
