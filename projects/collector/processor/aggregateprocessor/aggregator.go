package aggregateprocessor

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
	"github.com/phoenix-platform/phoenix/projects/collector/internal/fold"
)

// kind is how a series aggregates.
type kind uint8

const (
	kindCounter   kind = iota // cumulative monotonic sum: sum of increases
	kindLevel                 // cumulative non-monotonic sum: sum of latest values
	kindDeltaSum              // delta sum: added per interval
	kindGauge                 // gauge: gauge_func over latest values
	kindHistogram             // cumulative histogram: bucket increases
	kindDeltaHist             // delta histogram: added per interval
)

// output is one aggregated series.
type output struct {
	resKey   uint64
	res      pcommon.Map
	scope    pcommon.InstrumentationScope
	metricID uint64
	name     string
	desc     string
	unit     string
	kind     kind
	attrs    pcommon.Map
	start    pcommon.Timestamp
	emitted  bool
	lastFed  time.Time
	fedGen   uint64 // last interval with input

	total  float64 // counters, delta sums
	allInt bool
	// Gauges and levels, recomputed at each flush.
	gSum, gMin, gMax float64
	gN               int
	// Histograms.
	bounds  []float64
	buckets []uint64
	count   uint64
	sum     float64
	hasMin  bool
	min     float64
	hasMax  bool
	max     float64
}

// input is one input series' memory.
type input struct {
	out       *output
	last      float64
	lastStart pcommon.Timestamp
	lastSeen  time.Time
	gen       uint64 // last interval it was seen in
	buckets   []uint64
	count     uint64
	sum       float64
}

// smallSeries is how many series a resource holds in a slice before it
// switches to a map: hostmetrics resources have ~10, a Prometheus target
// thousands.
const smallSeries = 16

// resState holds the input series of one resource. One map lookup per
// resource, then a short scan per datapoint, keeps the hot path out of a
// map of millions of series.
type resState struct {
	small []slot
	big   map[uint64]*input

	// key is the resource's hash; next the resource that followed it in the
	// last batch that had both. Senders repeat their order, so trying next
	// first spares a lookup in a map of as many entries as resources. dead
	// marks a state the flush removed: a live state's next may still point
	// at it (at most one dead state per live one stays reachable).
	key  uint64
	next *resState
	dead bool
}

type slot struct {
	key uint64
	in  *input
}

func (rs *resState) get(key uint64) *input {
	if rs.big != nil {
		return rs.big[key]
	}
	for i := range rs.small {
		if rs.small[i].key == key {
			return rs.small[i].in
		}
	}
	return nil
}

func (rs *resState) put(key uint64, in *input) {
	if rs.big == nil && len(rs.small) < smallSeries {
		rs.small = append(rs.small, slot{key, in})
		return
	}
	if rs.big == nil {
		rs.big = make(map[uint64]*input, 2*smallSeries)
		for _, sl := range rs.small {
			rs.big[sl.key] = sl.in
		}
		rs.small = nil
	}
	rs.big[key] = in
}

// each calls f for every input; f returning false removes it.
func (rs *resState) each(f func(key uint64, in *input) bool) int {
	if rs.big != nil {
		for k, in := range rs.big {
			if !f(k, in) {
				delete(rs.big, k)
			}
		}
		return len(rs.big)
	}
	kept := rs.small[:0]
	for _, sl := range rs.small {
		if f(sl.key, sl.in) {
			kept = append(kept, sl)
		}
	}
	clear(rs.small[len(kept):])
	rs.small = kept
	return len(kept)
}

// aggregator is the processor. It implements processor.Metrics itself since
// it emits on its own clock rather than per batch.
type aggregator struct {
	cfg     *Config
	tel     *telemetry
	logger  *zap.Logger
	next    consumer.Metrics
	now     func() time.Time
	resRw   attrs.Rewrite
	dpRw    attrs.Rewrite
	dpHash  attrs.Rewrite // the identity rewrite: attrs.Map with a memo of recent pairs
	resHash attrs.Rewrite // the same for resources (host.name, owner repeat across a host's processes)
	// mids memoises metricID by the metric's position in its scope:
	// every resource of a scrape lists the same metrics in the same order,
	// and comparing four short strings beats hashing them.
	mids [8]midMemo

	mu        sync.Mutex
	resources map[uint64]*resState // input series by resource
	nInputs   int
	// tombs remembers the last observation of counters dropped as stale, so
	// that one coming back with the same start resumes from it instead of
	// counting its whole value again (see bury).
	tombs     map[uint64]tomb
	outputs   map[uint64]*output
	gen       uint64 // current interval
	lastFlush time.Time

	startOnce    sync.Once
	shutdownOnce sync.Once
	cancel       context.CancelFunc
	done         chan struct{}
}

func newAggregator(cfg *Config, set component.TelemetrySettings, next consumer.Metrics) (*aggregator, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	drop := attrs.NewSet(cfg.RemoveLabels...)
	return &aggregator{
		cfg:       cfg,
		tel:       tel,
		logger:    set.Logger,
		next:      next,
		now:       time.Now,
		resRw:     attrs.Rewrite{Drop: drop},
		dpRw:      attrs.Rewrite{Drop: drop},
		resources: map[uint64]*resState{},
		tombs:     map[uint64]tomb{},
		outputs:   map[uint64]*output{},
		gen:       1,
	}, nil
}

// Capabilities: the input is read, never modified.
func (p *aggregator) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start launches the interval loop with its own context: ctx is for start-up only.
func (p *aggregator) Start(context.Context, component.Host) error {
	p.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		p.done = make(chan struct{})
		go p.run(ctx)
	})
	return nil
}

func (p *aggregator) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.emit(ctx)
		}
	}
}

// Shutdown stops the loop and emits what the last partial interval gathered.
// It is idempotent and safe without Start.
func (p *aggregator) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() {
		if p.cancel == nil {
			return
		}
		p.cancel()
		<-p.done
		p.emit(ctx)
	})
	return nil
}

// emit flushes and hands the result to the next consumer.
func (p *aggregator) emit(ctx context.Context) {
	md := p.flush(p.now())
	n := md.DataPointCount()
	if n == 0 {
		return
	}
	if err := p.next.ConsumeMetrics(ctx, md); err != nil {
		p.tel.failed.Add(ctx, 1)
		p.logger.Warn("aggregated metrics refused by the next consumer", zap.Error(err))
		return
	}
	p.tel.emitted.Add(ctx, int64(n))
}

// midMemo is one memoised metricID.
type midMemo struct {
	name, unit, scopeName, scopeVersion string
	k                                   kind
	mid                                 uint64
	ok                                  bool
}

// metricIDAt is metricID, memoised by position l of m in its scope.
func (p *aggregator) metricIDAt(l int, m pmetric.Metric, k kind, scope pcommon.InstrumentationScope) uint64 {
	if l >= len(p.mids) {
		return metricID(m, k, scope)
	}
	e := &p.mids[l]
	name, unit, sn, sv := m.Name(), m.Unit(), scope.Name(), scope.Version()
	if e.ok && e.k == k && e.name == name && e.unit == unit && e.scopeName == sn && e.scopeVersion == sv {
		return e.mid
	}
	mid := metricID(m, k, scope)
	e.name, e.unit, e.scopeName, e.scopeVersion, e.k, e.mid, e.ok = name, unit, sn, sv, k, mid, true
	return mid
}

// metricID hashes what makes series of two metrics mergeable.
func metricID(m pmetric.Metric, k kind, scope pcommon.InstrumentationScope) uint64 {
	h := attrs.Combine(attrs.String(m.Name()), attrs.String(m.Unit()))
	h = attrs.Combine(h, uint64(k))
	return attrs.Combine(h, attrs.Combine(attrs.String(scope.Name()), attrs.String(scope.Version())))
}

func kindOf(m pmetric.Metric) (kind, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return kindGauge, true
	case pmetric.MetricTypeSum:
		s := m.Sum()
		switch {
		case s.AggregationTemporality() == pmetric.AggregationTemporalityDelta:
			return kindDeltaSum, true
		case s.IsMonotonic():
			return kindCounter, true
		default:
			return kindLevel, true
		}
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta {
			return kindDeltaHist, true
		}
		return kindHistogram, true
	}
	return 0, false
}

// batchCtx is what series lookups of one ResourceMetrics share.
type batchCtx struct {
	now        time.Time
	res        pcommon.Resource
	resHash    uint64
	outResKey  uint64
	haveResKey bool
	rs         *resState
	prev       *resState // the previous resource's state in the batch, if any
	refused    int64
}

// lookup finds or creates the input series (and its output) of a datapoint;
// nil means refused (max_series).
func (p *aggregator) lookup(bc *batchCtx, scope pcommon.InstrumentationScope, m pmetric.Metric, k kind, mid uint64,
	a pcommon.Map, bounds *pcommon.Float64Slice, ts, start pcommon.Timestamp,
) *input {
	key := attrs.Combine(mid, p.dpHash.Hash(a))
	if bounds != nil {
		key = attrs.Combine(key, boundsKey(*bounds))
	}
	if bc.rs == nil {
		if n := bc.prev; n != nil && n.next != nil && n.next.key == bc.resHash && !n.next.dead {
			bc.rs = n.next
		} else if bc.rs = p.resources[bc.resHash]; bc.rs != nil && bc.prev != nil {
			bc.prev.next = bc.rs
		}
	}
	if bc.rs != nil {
		if in := bc.rs.get(key); in != nil {
			in.lastSeen = bc.now
			return in
		}
	}
	if p.nInputs >= p.cfg.MaxSeries {
		bc.refused++
		return nil
	}
	if bc.rs == nil {
		bc.rs = &resState{key: bc.resHash}
		p.resources[bc.resHash] = bc.rs
		if bc.prev != nil {
			bc.prev.next = bc.rs
		}
	}
	if !bc.haveResKey {
		bc.outResKey, bc.haveResKey = p.resRw.Hash(bc.res.Attributes()), true
	}
	okey := attrs.Combine(attrs.Combine(bc.outResKey, mid), p.dpRw.Hash(a))
	if bounds != nil {
		okey = attrs.Combine(okey, boundsKey(*bounds))
	}
	out, ok := p.outputs[okey]
	if !ok {
		out = p.newOutput(bc.outResKey, bc.res, scope, mid, m, k, a, bounds, ts, start)
		p.outputs[okey] = out
	}
	in := &input{out: out, lastSeen: bc.now}
	if k == kindCounter || k == kindHistogram {
		p.resume(in, attrs.Combine(bc.resHash, key), bc.now)
	}
	bc.rs.put(key, in)
	p.nInputs++
	return in
}

// ConsumeMetrics folds the batch into the state; what cannot be aggregated
// passes through at once.
func (p *aggregator) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	var pass pmetric.Metrics
	var aggregated, refused int64
	p.mu.Lock()
	now := p.now()
	if p.lastFlush.IsZero() {
		// The first interval starts with the first data.
		p.lastFlush = now
	}
	rms := md.ResourceMetrics()
	var prev *resState
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		bc := batchCtx{now: now, res: rm.Resource(), resHash: p.resHash.Hash(rm.Resource().Attributes()), prev: prev}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			ms := sm.Metrics()
			for l := 0; l < ms.Len(); l++ {
				m := ms.At(l)
				k, ok := kindOf(m)
				if !ok {
					if pass == (pmetric.Metrics{}) {
						pass = pmetric.NewMetrics()
					}
					copyMetric(pass, rm, sm, m)
					continue
				}
				mid := p.metricIDAt(l, m, k, sm.Scope())
				switch k {
				case kindGauge, kindLevel, kindCounter, kindDeltaSum:
					var dps pmetric.NumberDataPointSlice
					if k == kindGauge {
						dps = m.Gauge().DataPoints()
					} else {
						dps = m.Sum().DataPoints()
					}
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						if dp.Flags().NoRecordedValue() {
							continue
						}
						in := p.lookup(&bc, sm.Scope(), m, k, mid, dp.Attributes(), nil, dp.Timestamp(), dp.StartTimestamp())
						if in == nil {
							continue
						}
						p.addNumber(in, k, dp, now)
						aggregated++
					}
				case kindHistogram, kindDeltaHist:
					dps := m.Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						if dp.Flags().NoRecordedValue() {
							continue
						}
						bounds := dp.ExplicitBounds()
						in := p.lookup(&bc, sm.Scope(), m, k, mid, dp.Attributes(), &bounds, dp.Timestamp(), dp.StartTimestamp())
						if in == nil {
							continue
						}
						p.addHistogram(in, k, dp, now)
						aggregated++
					}
				}
			}
		}
		refused += bc.refused
		if bc.rs != nil {
			prev = bc.rs
		}
	}
	p.mu.Unlock()
	if aggregated > 0 {
		p.tel.aggregated.Add(ctx, aggregated)
	}
	if refused > 0 {
		p.tel.refused.Add(ctx, refused)
	}
	if pass != (pmetric.Metrics{}) {
		return p.next.ConsumeMetrics(ctx, pass)
	}
	return nil
}

func (p *aggregator) newOutput(resKey uint64, res pcommon.Resource, scope pcommon.InstrumentationScope, mid uint64, m pmetric.Metric, k kind, a pcommon.Map, bounds *pcommon.Float64Slice, ts, start pcommon.Timestamp) *output {
	out := &output{
		resKey: resKey, res: pcommon.NewMap(), scope: pcommon.NewInstrumentationScope(), metricID: mid,
		name: m.Name(), desc: m.Description(), unit: m.Unit(), kind: k, attrs: pcommon.NewMap(), allInt: true,
		start: start,
	}
	if out.start == 0 {
		out.start = ts
	}
	p.resRw.Apply(res.Attributes(), out.res)
	scope.CopyTo(out.scope)
	out.scope.Attributes().Clear()
	p.dpRw.Apply(a, out.attrs)
	if bounds != nil {
		out.bounds = bounds.AsRaw()
		out.buckets = make([]uint64, len(out.bounds)+1)
	}
	return out
}

// counterIncrease is how much a cumulative input grew since its last point,
// or -1 for a first point. A value below the last, or a later start time, is
// a reset: the counter restarted from zero, so all of it is increase.
func counterIncrease(in *input, v float64, start pcommon.Timestamp) float64 {
	if in.gen == 0 {
		return -1
	}
	if v < in.last || (start != 0 && start > in.lastStart) {
		return v
	}
	return v - in.last
}

// firstIncrease decides how much of a new input's cumulative value counts:
// all of it while the output has not been emitted (the output starts at the
// earliest input start) or when the input started after the output did;
// nothing when it predates the output (its past is not ours to add).
func firstIncrease(out *output, v float64, start pcommon.Timestamp) float64 {
	if !out.emitted {
		if start != 0 && start < out.start {
			out.start = start
		}
		return v
	}
	if start != 0 && start >= out.start {
		return v
	}
	return 0
}

func (p *aggregator) addNumber(in *input, k kind, dp pmetric.NumberDataPoint, now time.Time) {
	out := in.out
	v := fold.Float(dp)
	if dp.ValueType() != pmetric.NumberDataPointValueTypeInt {
		out.allInt = false
	}
	out.lastFed = now
	out.fedGen = p.gen
	switch k {
	case kindCounter:
		inc := counterIncrease(in, v, dp.StartTimestamp())
		if inc < 0 {
			inc = firstIncrease(out, v, dp.StartTimestamp())
		}
		out.total += inc
		in.last, in.lastStart = v, dp.StartTimestamp()
	case kindDeltaSum:
		out.total += v
	case kindGauge, kindLevel:
		in.last = v
	}
	in.gen = p.gen
}

func (p *aggregator) addHistogram(in *input, k kind, dp pmetric.HistogramDataPoint, now time.Time) {
	out := in.out
	out.lastFed = now
	out.fedGen = p.gen
	counts := dp.BucketCounts()
	if counts.Len() != len(out.buckets) {
		// Malformed (bucket count not bounds+1): nothing sound to add.
		in.gen = p.gen
		return
	}
	if k == kindDeltaHist {
		for j, c := range counts.All() {
			out.buckets[j] += c
		}
		out.count += dp.Count()
		out.sum += dp.Sum()
		if dp.HasMin() && (!out.hasMin || dp.Min() < out.min) {
			out.hasMin, out.min = true, dp.Min()
		}
		if dp.HasMax() && (!out.hasMax || dp.Max() > out.max) {
			out.hasMax, out.max = true, dp.Max()
		}
		in.gen = p.gen
		return
	}
	if len(in.buckets) != counts.Len() {
		// New, or resumed from a tomb of other buckets (the series key
		// includes the bounds, so that would be a hash collision).
		in.buckets, in.gen = make([]uint64, counts.Len()), 0
	}
	first := in.gen == 0
	reset := !first && (dp.Count() < in.count || (dp.StartTimestamp() != 0 && dp.StartTimestamp() > in.lastStart))
	whole := reset || (first && firstIncrease(out, 1, dp.StartTimestamp()) > 0)
	for j, c := range counts.All() {
		switch {
		case whole:
			out.buckets[j] += c
		case !first && c >= in.buckets[j]:
			out.buckets[j] += c - in.buckets[j]
		}
		in.buckets[j] = c
	}
	switch {
	case whole:
		out.count += dp.Count()
		out.sum += dp.Sum()
	case !first:
		out.count += dp.Count() - in.count
		out.sum += dp.Sum() - in.sum
	}
	in.count, in.sum, in.lastStart = dp.Count(), dp.Sum(), dp.StartTimestamp()
	in.gen = p.gen
}

func boundsKey(b pcommon.Float64Slice) uint64 {
	h := uint64(b.Len())
	for _, v := range b.All() {
		h = attrs.Combine(h, math.Float64bits(v))
	}
	return h
}

// copyMetric appends m (with its resource and scope) to dst for pass-through.
func copyMetric(dst pmetric.Metrics, rm pmetric.ResourceMetrics, sm pmetric.ScopeMetrics, m pmetric.Metric) {
	drm := dst.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(drm.Resource())
	drm.SetSchemaUrl(rm.SchemaUrl())
	dsm := drm.ScopeMetrics().AppendEmpty()
	sm.Scope().CopyTo(dsm.Scope())
	dsm.SetSchemaUrl(sm.SchemaUrl())
	m.CopyTo(dsm.Metrics().AppendEmpty())
}

// staleAfter is how long an unfed series is remembered.
// tomb is a dropped counter's last observation.
type tomb struct {
	last    float64 // counters
	buckets []uint64
	count   uint64
	sum     float64 // cumulative histograms
	start   pcommon.Timestamp
	buried  time.Time
}

// tombTTL is how long a dropped counter's last observation is kept: a
// sender back after a longer outage counts as new.
const tombTTL = time.Hour

// bury remembers a counter (or cumulative histogram) input dropped as
// stale. A counter that stops
// reporting for longer than the staleness window (a collector restart, a
// network partition) and comes back with the same start time has only
// grown since its last observation; without this, its whole value would be
// counted again. Tombs are bounded by max_series.
func (p *aggregator) bury(key uint64, in *input, now time.Time) {
	if k := in.out.kind; k != kindCounter && k != kindHistogram || in.gen == 0 || len(p.tombs) >= p.cfg.MaxSeries {
		return
	}
	p.tombs[key] = tomb{last: in.last, buckets: in.buckets, count: in.count, sum: in.sum, start: in.lastStart, buried: now}
}

// resume starts a new counter or cumulative histogram input from its tomb,
// if it has one.
func (p *aggregator) resume(in *input, key uint64, now time.Time) {
	t, ok := p.tombs[key]
	if !ok {
		return
	}
	delete(p.tombs, key)
	if now.Sub(t.buried) > tombTTL {
		return
	}
	// gen 1 marks it as observed before (counterIncrease then compares with
	// last); a counter with a later start or a lower value is a reset there.
	in.last, in.lastStart, in.gen = t.last, t.start, 1
	in.buckets, in.count, in.sum = t.buckets, t.count, t.sum
}

func (p *aggregator) staleAfter() time.Duration {
	return max(5*p.cfg.Interval, 5*time.Minute)
}

// flush renders the aggregated series as of now and starts a new interval.
func (p *aggregator) flush(now time.Time) pmetric.Metrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(now)
	if p.lastFlush.IsZero() {
		p.lastFlush = now
	}
	intervalStart := pcommon.NewTimestampFromTime(p.lastFlush)
	stale := p.staleAfter()

	// Gauges and levels: combine the latest value of each input seen in
	// this interval (levels: still alive).
	p.nInputs = 0
	for rk, rs := range p.resources {
		n := rs.each(func(key uint64, in *input) bool {
			if now.Sub(in.lastSeen) > stale {
				p.bury(attrs.Combine(rs.key, key), in, now)
				return false
			}
			out := in.out
			switch {
			case out.kind == kindGauge && in.gen == p.gen, out.kind == kindLevel:
			default:
				return true
			}
			if out.gN == 0 {
				out.gSum, out.gMin, out.gMax = 0, in.last, in.last
			}
			out.gN++
			out.gSum += in.last
			out.gMin = min(out.gMin, in.last)
			out.gMax = max(out.gMax, in.last)
			return true
		})
		if n == 0 {
			rs.dead, rs.next = true, nil
			delete(p.resources, rk)
		}
		p.nInputs += n
	}
	for k, t := range p.tombs {
		if now.Sub(t.buried) > tombTTL {
			delete(p.tombs, k)
		}
	}

	resources := map[uint64]pmetric.ResourceMetrics{}
	scopes := map[uint64]pmetric.ScopeMetrics{}
	metrics := map[uint64]pmetric.Metric{}
	keys := make([]uint64, 0, len(p.outputs))
	for key := range p.outputs {
		keys = append(keys, key)
	}
	// Sorted so output order is stable across flushes.
	slices.Sort(keys)
	for _, key := range keys {
		out := p.outputs[key]
		if now.Sub(out.lastFed) > stale {
			delete(p.outputs, key)
			continue
		}
		fedNow := out.fedGen == p.gen
		switch out.kind {
		case kindDeltaSum, kindDeltaHist:
			if !fedNow {
				continue
			}
		case kindGauge, kindLevel:
			if out.gN == 0 {
				continue
			}
		}
		rm, ok := resources[out.resKey]
		if !ok {
			rm = md.ResourceMetrics().AppendEmpty()
			out.res.CopyTo(rm.Resource().Attributes())
			resources[out.resKey] = rm
		}
		skey := attrs.Combine(out.resKey, attrs.Combine(attrs.String(out.scope.Name()), attrs.String(out.scope.Version())))
		sm, ok := scopes[skey]
		if !ok {
			sm = rm.ScopeMetrics().AppendEmpty()
			out.scope.CopyTo(sm.Scope())
			scopes[skey] = sm
		}
		mkey := attrs.Combine(out.resKey, out.metricID)
		m, ok := metrics[mkey]
		if !ok {
			m = sm.Metrics().AppendEmpty()
			m.SetName(out.name)
			m.SetDescription(out.desc)
			m.SetUnit(out.unit)
			switch out.kind {
			case kindGauge:
				m.SetEmptyGauge()
			case kindCounter, kindLevel:
				s := m.SetEmptySum()
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				s.SetIsMonotonic(out.kind == kindCounter)
			case kindDeltaSum:
				s := m.SetEmptySum()
				s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				s.SetIsMonotonic(true)
			case kindHistogram:
				m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			case kindDeltaHist:
				m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			}
			metrics[mkey] = m
		}
		p.render(out, m, ts, intervalStart)
		out.emitted = true
	}
	p.lastFlush = now
	p.gen++
	return md
}

// render writes out's datapoint into m and resets per-interval state.
func (p *aggregator) render(out *output, m pmetric.Metric, ts, intervalStart pcommon.Timestamp) {
	switch out.kind {
	case kindCounter, kindDeltaSum:
		dp := m.Sum().DataPoints().AppendEmpty()
		out.attrs.CopyTo(dp.Attributes())
		dp.SetTimestamp(ts)
		if out.kind == kindCounter {
			dp.SetStartTimestamp(out.start)
		} else {
			dp.SetStartTimestamp(intervalStart)
		}
		setNumber(dp, out.total, out.allInt)
		if out.kind == kindDeltaSum {
			out.total = 0
		}
	case kindGauge, kindLevel:
		var v float64
		switch {
		case out.kind == kindLevel || p.cfg.GaugeFunc == GaugeSum:
			v = out.gSum
		case p.cfg.GaugeFunc == GaugeAvg:
			v = out.gSum / float64(out.gN)
		case p.cfg.GaugeFunc == GaugeMin:
			v = out.gMin
		default:
			v = out.gMax
		}
		var dp pmetric.NumberDataPoint
		if out.kind == kindGauge {
			dp = m.Gauge().DataPoints().AppendEmpty()
		} else {
			dp = m.Sum().DataPoints().AppendEmpty()
			dp.SetStartTimestamp(out.start)
		}
		out.attrs.CopyTo(dp.Attributes())
		dp.SetTimestamp(ts)
		setNumber(dp, v, out.allInt && (out.kind == kindLevel || p.cfg.GaugeFunc != GaugeAvg))
		out.gN = 0
	case kindHistogram, kindDeltaHist:
		dp := m.Histogram().DataPoints().AppendEmpty()
		out.attrs.CopyTo(dp.Attributes())
		dp.SetTimestamp(ts)
		dp.SetCount(out.count)
		dp.SetSum(out.sum)
		dp.ExplicitBounds().FromRaw(out.bounds)
		dp.BucketCounts().FromRaw(out.buckets)
		if out.kind == kindHistogram {
			dp.SetStartTimestamp(out.start)
			return
		}
		dp.SetStartTimestamp(intervalStart)
		if out.hasMin {
			dp.SetMin(out.min)
		}
		if out.hasMax {
			dp.SetMax(out.max)
		}
		clear(out.buckets)
		out.count, out.sum, out.hasMin, out.hasMax = 0, 0, false, false
	}
}

// setNumber keeps integer series integer.
func setNumber(dp pmetric.NumberDataPoint, v float64, isInt bool) {
	if isInt && v == math.Trunc(v) && math.Abs(v) < 1<<62 {
		dp.SetIntValue(int64(v))
		return
	}
	dp.SetDoubleValue(v)
}
