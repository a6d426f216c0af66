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

	// Results.
	Points   int64
	Rejected int64
	Reason   string // first rejection reason
	streams  []string
}

var batchPool = sync.Pool{New: func() any { return &Batch{} }}

// Batch starts applying a request. stream is the validated X-Phoenix-Stream
// header ("" when absent); team owns any stream the request creates.
func (t *Tracker) Batch(stream, team string) *Batch {
	b := batchPool.Get().(*Batch)
	*b = Batch{t: t, team: team, idBuf: b.idBuf[:0], scratch: b.scratch[:0], streams: b.streams[:0]}
	if stream != "" {
		b.headerID = append(b.headerID[:0], stream...)
	}
	b.sec = t.sec(t.now())
	return b
}

// Done releases the stream lock and returns the batch to the pool.
func (b *Batch) Done() {
	b.unlock()
	b.t = nil
	batchPool.Put(b)
}

func (b *Batch) unlock() {
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

	h := otlpwire.SeriesKey(m.nameHash, b.res.Hash+attrHash)
	if slot, ok := s.index[h]; ok {
		sr := &s.series[slot]
		if sr.last < s.intervalFrom {
			s.interval.Add(h)
		}
		sr.last = b.sec
		sr.value = value
		return
	}
	b.newSeries(h, attrHash, value, dp)
}

// newSeries is the slow path: a series the stream does not hold.
func (b *Batch) newSeries(h, attrHash uint64, value float64, dp []byte) {
	s, m, l := b.cur, b.met, &b.t.limits
	s.interval.Add(h)
	switch {
	case s.live >= l.ExactSeriesPerStream:
		s.addOverflow(h, b.sec, SketchedSeriesLimit)
		return
	case b.t.totalSeries.Load() >= int64(l.MaxSeriesTotal):
		s.addOverflow(h, b.sec, SketchedTotalLimit)
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
	var slot uint32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.series[slot] = sr
	} else {
		slot = uint32(len(s.series))
		s.series = append(s.series, sr)
	}
	s.index[h] = slot
	s.live++
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
