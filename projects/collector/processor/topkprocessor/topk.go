package topkprocessor

import (
	"cmp"
	"context"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
	"github.com/phoenix-platform/phoenix/projects/collector/internal/fold"
)

// OtherValue replaces every entity_keys value of a rolled-up entity.
const OtherValue = "_other_"

// keptOnRollup are resource attributes the `_other_` resource keeps besides
// group_by: Phoenix routes data to experiment streams by them.
var keptOnRollup = []string{"phoenix.experiment.id", "phoenix.variant"}

// entity is one tracked entity (a process) and its rank state.
type entity struct {
	id       uint64
	group    *group
	index    int // position in group.members, for O(1) removal
	critical bool
	member   bool      // in the kept set on rank
	outSince time.Time // when a member first ranked out of the top K
	lastSeen time.Time
	peak     float64 // decayed peak rate: the rank score

	// Previous cumulative observation of the rank metric.
	hasCum   bool
	cumSum   float64
	cumTs    pcommon.Timestamp
	cumStart pcommon.Timestamp

	// This batch's observations, valid while batchGen equals the processor's gen.
	batchGen    uint64
	hasBatchCum bool
	batchCum    float64
	batchTs     pcommon.Timestamp
	batchStart  pcommon.Timestamp
	batchDirect float64
	decidedGen  uint64

	// next is the entity that followed this one in the last batch that had
	// both (resource mode). Senders repeat their order, so trying it first
	// spares the map lookup, a cache miss or two in a map of 100k entities.
	// dead marks an entity the sweep removed: a live entity's next may
	// still point at it (so at most one dead entity per live one stays
	// reachable) and it must not be taken for a live one.
	next *entity
	dead bool

	// otherKey caches the hash of this entity's `_other_` resource: it
	// depends only on attributes that are part of the entity's identity
	// (group_by, entity_keys) plus the phoenix.* routing attributes, which
	// do not change within a process's life.
	otherKey    uint64
	hasOtherKey bool
}

// kept reports whether the entity's data passes through unchanged.
func (e *entity) kept() bool { return e.critical || e.member }

// group is one group's entities and ranking clock.
type group struct {
	id        uint64
	firstSeen time.Time
	lastRank  time.Time
	members   []*entity
	gen       uint64 // last batch that touched it
}

// rmMode says how one ResourceMetrics maps to entities.
type rmMode uint8

const (
	modeNone      rmMode = iota // no entity: pass through
	modeResource                // the resource is one entity
	modeDatapoint               // entity keys (partly) on datapoints
	modeDecided                 // a resource entity already kept or folded in pass 1
)

// topK is the processor state. One mutex serialises batches: ranking state is
// shared by all of them and a batch is processed in microseconds per entity.
type topK struct {
	cfg        *Config
	critical   *regexp.Regexp
	groupKeys  []string
	entityKeys []string
	tel        *telemetry
	now        func() time.Time

	mu        sync.Mutex
	gen       uint64
	groups    map[uint64]*group
	entities  map[uint64]*entity
	lastSweep time.Time
	touched   []*entity
	modes     []rmMode
	rmEnts    []*entity
	remove    []bool
	ranked    []*entity
	folder    *fold.Folder
	resRw     attrs.Rewrite // resource of `_other_` when the entity is the resource
	dpResRw   attrs.Rewrite // resource of `_other_` when entities are on datapoints
	dpRw      attrs.Rewrite // datapoint attributes of `_other_`

	// Memo of the last resource group (single group_by key with a string
	// value): consecutive resources of a batch are mostly one host's, and
	// comparing the value beats hashing it.
	memoGroupOK  bool
	memoGroupVal string
	memoGroupID  uint64
}

func newTopK(cfg *Config, set component.TelemetrySettings) (*topK, error) {
	critical, err := compileCritical(cfg.Critical)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	entitySet := attrs.NewSet(cfg.EntityKeys...)
	keep := attrs.NewSet(append(slices.Clone(cfg.GroupBy), keptOnRollup...)...)
	return &topK{
		cfg:        cfg,
		critical:   critical,
		groupKeys:  cfg.GroupBy,
		entityKeys: cfg.EntityKeys,
		tel:        tel,
		now:        time.Now,
		groups:     map[uint64]*group{},
		entities:   map[uint64]*entity{},
		folder:     fold.New(),
		resRw:      attrs.Rewrite{Keep: keep, Replace: entitySet, ReplaceWith: OtherValue},
		dpResRw:    attrs.Rewrite{Replace: entitySet, ReplaceWith: OtherValue},
		dpRw:       attrs.Rewrite{Replace: entitySet, ReplaceWith: OtherValue},
	}, nil
}

// tupleHash hashes the values of keys looked up in maps; ok is false when a
// key is missing everywhere.
func tupleHash(keys []string, maps ...pcommon.Map) (h uint64, ok bool) {
	h = uint64(len(keys))
	for _, k := range keys {
		v, found := attrs.Lookup(k, maps...)
		if !found {
			return 0, false
		}
		h = attrs.Combine(h, attrs.Value(v))
	}
	return h, true
}

// groupHash is like tupleHash but a missing key counts as empty: data without
// a host.name still belongs to one (nameless) group.
func groupHash(keys []string, maps ...pcommon.Map) uint64 {
	h := uint64(len(keys))
	for _, k := range keys {
		v, found := attrs.Lookup(k, maps...)
		if !found {
			h = attrs.Combine(h, 0)
			continue
		}
		h = attrs.Combine(h, attrs.Value(v))
	}
	return h
}

// resourceGroup is groupHash(p.groupKeys, res), memoised for a single
// string-valued key.
func (p *topK) resourceGroup(res pcommon.Map) uint64 {
	if len(p.groupKeys) != 1 {
		return groupHash(p.groupKeys, res)
	}
	v, ok := res.Get(p.groupKeys[0])
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return groupHash(p.groupKeys, res)
	}
	if s := v.Str(); p.memoGroupOK && s == p.memoGroupVal {
		return p.memoGroupID
	}
	gid := groupHash(p.groupKeys, res)
	p.memoGroupOK, p.memoGroupVal, p.memoGroupID = true, v.Str(), gid
	return gid
}

// lookupAfter is lookup for the entity that comes after prev (nil: none)
// in the batch: it tries prev's successor from earlier batches first.
func (p *topK) lookupAfter(ctx context.Context, prev *entity, gid, eid uint64, now time.Time, maps ...pcommon.Map) *entity {
	id := attrs.Combine(gid, eid)
	if prev != nil {
		if n := prev.next; n != nil && n.id == id && !n.dead {
			n.lastSeen = now
			return n
		}
	}
	e := p.lookup(ctx, gid, eid, now, maps...)
	if prev != nil && e != nil {
		prev.next = e
	}
	return e
}

// lookup finds or creates the entity; nil means refused (max_entities).
func (p *topK) lookup(ctx context.Context, gid, eid uint64, now time.Time, maps ...pcommon.Map) *entity {
	id := attrs.Combine(gid, eid)
	if e, ok := p.entities[id]; ok {
		e.lastSeen = now
		return e
	}
	if len(p.entities) >= p.cfg.MaxEntities {
		p.tel.refused.Add(ctx, 1)
		return nil
	}
	g, ok := p.groups[gid]
	if !ok {
		g = &group{id: gid, firstSeen: now}
		p.groups[gid] = g
	}
	e := &entity{id: id, group: g, index: len(g.members), lastSeen: now}
	if p.critical != nil {
		if v, ok := attrs.Lookup(p.entityKeys[0], maps...); ok {
			e.critical = p.critical.MatchString(v.AsString())
		}
	}
	g.members = append(g.members, e)
	p.entities[id] = e
	p.tel.seen.Add(ctx, 1)
	return e
}

// observe records every datapoint of the rank metric m for e.
func (p *topK) observe(e *entity, m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		dps := sum.DataPoints()
		delta := sum.AggregationTemporality() == pmetric.AggregationTemporalityDelta
		for j := range dps.Len() {
			p.begin(e)
			observeNumber(e, dps.At(j), true, delta)
		}
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for j := range dps.Len() {
			p.begin(e)
			observeNumber(e, dps.At(j), false, false)
		}
	default:
		for j := range pointCount(m) {
			p.observePoint(e, m, j)
		}
	}
}

func seconds(d pcommon.Timestamp) float64 { return float64(d) / 1e9 }

// finish turns e's batch observations into a rate and raises its peak.
func finish(e *entity) {
	rate := e.batchDirect
	if e.hasBatchCum {
		switch {
		case e.hasCum && e.batchTs > e.cumTs:
			d := e.batchCum - e.cumSum
			dt := seconds(e.batchTs - e.cumTs)
			if d < 0 || (e.batchStart != 0 && e.batchStart > e.cumStart) {
				// Counter reset (a restart, a reused pid): the value is what
				// accrued since the new start.
				d = e.batchCum
				if e.batchStart != 0 && e.batchTs > e.batchStart {
					dt = seconds(e.batchTs - e.batchStart)
				}
			}
			rate += d / dt
		case !e.hasCum && e.batchStart != 0 && e.batchTs > e.batchStart:
			// First sight: the lifetime average ranks it until a second sample.
			rate += e.batchCum / seconds(e.batchTs-e.batchStart)
		}
		if !e.hasCum || e.batchTs > e.cumTs {
			e.hasCum, e.cumSum, e.cumTs, e.cumStart = true, e.batchCum, e.batchTs, e.batchStart
		}
	}
	if math.IsNaN(rate) || math.IsInf(rate, 0) {
		return
	}
	e.peak = max(e.peak, rate)
}

// rank recomputes the group's membership: the top K by decayed peak, members
// winning ties (a mild hysteresis of its own), then hysteresis for leavers.
func (p *topK) rank(g *group, now time.Time) {
	p.ranked = append(p.ranked[:0], g.members...)
	slices.SortFunc(p.ranked, func(a, b *entity) int {
		if c := cmp.Compare(b.peak, a.peak); c != 0 {
			return c
		}
		if a.member != b.member {
			if a.member {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	for i, e := range p.ranked {
		if i < p.cfg.K {
			e.member = true
			e.outSince = time.Time{}
			continue
		}
		if !e.member {
			continue
		}
		if e.outSince.IsZero() {
			e.outSince = now
		}
		if now.Sub(e.outSince) >= p.cfg.Hysteresis {
			e.member, e.outSince = false, time.Time{}
		}
	}
	factor := 1.0
	if !g.lastRank.IsZero() {
		// Time-based, so the per-batch ranks of a group's first window decay
		// no faster than the per-window ranks after it.
		factor = math.Pow(p.cfg.Decay, float64(now.Sub(g.lastRank))/float64(p.cfg.Window))
	}
	for _, e := range g.members {
		e.peak *= factor
	}
	g.lastRank = now
}

// sweep forgets entities not seen for a while, so the maps follow the live set.
func (p *topK) sweep(now time.Time) {
	stale := 2*p.cfg.Window + p.cfg.Hysteresis
	for id, e := range p.entities {
		if now.Sub(e.lastSeen) <= stale {
			continue
		}
		g := e.group
		last := len(g.members) - 1
		g.members[e.index] = g.members[last]
		g.members[e.index].index = e.index
		g.members[last] = nil
		g.members = g.members[:last]
		e.dead, e.next = true, nil
		delete(p.entities, id)
		if len(g.members) == 0 {
			delete(p.groups, g.id)
		}
	}
	p.lastSweep = now
}

// process is the processorhelper function: it never fails on bad data.
func (p *topK) process(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.gen++
	if now.Sub(p.lastSweep) >= p.cfg.Window {
		p.sweep(now)
	}
	rms := md.ResourceMetrics()
	n := rms.Len()
	p.modes = slices.Grow(p.modes[:0], n)[:n]
	p.rmEnts = slices.Grow(p.rmEnts[:0], n)[:n]
	p.remove = slices.Grow(p.remove[:0], n)[:n]
	clear(p.remove)
	p.touched = p.touched[:0]

	// Pass 1: identify entities and observe the rank metric. A resource
	// entity whose group is not due for ranking in this batch (most batches:
	// groups rank once per window) is kept or folded right away, while its
	// data is still in the cache; the others wait for pass 2's ranking.
	p.folder.Reset()
	anyRemoved := false
	var prev *entity
	for i := range n {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		p.rmEnts[i] = nil
		if eid, ok := tupleHash(p.entityKeys, res); ok {
			p.modes[i] = modeResource
			gid := p.resourceGroup(res)
			e := p.lookupAfter(ctx, prev, gid, eid, now, res)
			p.rmEnts[i] = e
			if e == nil {
				// Refused (max_entities): rolled up whatever the ranking says.
				p.foldResource(rm, nil)
				p.modes[i], p.remove[i], anyRemoved = modeDecided, true, true
				continue
			}
			prev = e
			e.group.gen = p.gen
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() == p.cfg.RankMetric {
						p.observe(e, m)
					}
				}
			}
			if !p.rankDue(e.group, now) {
				if p.decideResource(ctx, rm, e) {
					p.remove[i], anyRemoved = true, true
				}
				p.modes[i] = modeDecided
			}
			continue
		}
		p.modes[i] = modeNone
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				p.observeDatapoints(ctx, i, res, m, now)
			}
		}
	}
	for _, e := range p.touched {
		finish(e)
	}

	// Pass 2: re-rank the groups that are due (every batch in their first window).
	for _, g := range p.groups {
		if g.gen != p.gen {
			continue
		}
		if p.rankDue(g, now) {
			p.rank(g, now)
		}
	}

	// Pass 3: fold what is not kept into each group's `_other_`.
	for i := range n {
		rm := rms.At(i)
		switch p.modes[i] {
		case modeResource:
			if p.decideResource(ctx, rm, p.rmEnts[i]) {
				anyRemoved = true
				p.remove[i] = true
			}
		case modeDatapoint:
			p.foldDatapoints(ctx, rm)
		}
	}
	if anyRemoved {
		i := 0
		rms.RemoveIf(func(pmetric.ResourceMetrics) bool {
			r := p.remove[i]
			i++
			return r
		})
	}
	p.folder.MoveTo(rms)
	clear(p.rmEnts)
	return md, nil
}

// rankDue reports whether group g ranks in this batch: once per window, and
// every batch in its first window.
func (p *topK) rankDue(g *group, now time.Time) bool {
	return now.Sub(g.lastRank) >= p.cfg.Window || now.Sub(g.firstSeen) < p.cfg.Window
}

// decideResource keeps the resource entity e's data or folds it into its
// group's `_other_`; it reports whether the ResourceMetrics is to be removed.
func (p *topK) decideResource(ctx context.Context, rm pmetric.ResourceMetrics, e *entity) bool {
	if e.kept() {
		p.countDecision(ctx, e, true)
		return false
	}
	p.countDecision(ctx, e, false)
	p.foldResource(rm, e)
	return true
}

// observeDatapoints handles a resource that is not itself an entity: entities
// are then identified per datapoint (keys on the resource or the datapoint).
func (p *topK) observeDatapoints(ctx context.Context, i int, res pcommon.Map, m pmetric.Metric, now time.Time) {
	rank := m.Name() == p.cfg.RankMetric
	forEachAttrs(m, func(j int, a pcommon.Map) {
		eid, ok := tupleHash(p.entityKeys, res, a)
		if !ok {
			return
		}
		p.modes[i] = modeDatapoint
		e := p.lookup(ctx, groupHash(p.groupKeys, res, a), eid, now, res, a)
		if e == nil || !rank {
			if e != nil {
				e.group.gen = p.gen
			}
			return
		}
		p.observePoint(e, m, j)
	})
}

// observePoint observes one datapoint of the rank metric (datapoint mode).
func (p *topK) observePoint(e *entity, m pmetric.Metric, j int) {
	p.begin(e)
	switch m.Type() {
	case pmetric.MetricTypeSum:
		observeNumber(e, m.Sum().DataPoints().At(j), true,
			m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta)
	case pmetric.MetricTypeGauge:
		observeNumber(e, m.Gauge().DataPoints().At(j), false, false)
	}
}

// begin starts e's observations of this batch (once per batch) and marks its
// group as touched.
func (p *topK) begin(e *entity) {
	if e.batchGen != p.gen {
		e.batchGen = p.gen
		e.hasBatchCum = false
		e.batchCum, e.batchDirect = 0, 0
		e.batchTs, e.batchStart = 0, 0
		p.touched = append(p.touched, e)
	}
	e.group.gen = p.gen
}

// observeNumber adds one number datapoint of the rank metric (a sum when
// sum, of delta temporality when delta; a gauge otherwise) to e's batch.
func observeNumber(e *entity, dp pmetric.NumberDataPoint, sum, delta bool) {
	if dp.Flags().NoRecordedValue() {
		return
	}
	if !sum {
		e.batchDirect += fold.Float(dp)
		return
	}
	if delta {
		if dt := seconds(dp.Timestamp() - dp.StartTimestamp()); dt > 0 && dp.StartTimestamp() != 0 {
			e.batchDirect += fold.Float(dp) / dt
		}
		return
	}
	e.hasBatchCum = true
	e.batchCum += fold.Float(dp)
	e.batchTs = max(e.batchTs, dp.Timestamp())
	if s := dp.StartTimestamp(); s != 0 && (e.batchStart == 0 || s < e.batchStart) {
		e.batchStart = s
	}
}

// forEachAttrs calls f with the index and attributes of every datapoint of m.
func forEachAttrs(m pmetric.Metric, f func(int, pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for j, dp := range m.Gauge().DataPoints().All() {
			f(j, dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for j, dp := range m.Sum().DataPoints().All() {
			f(j, dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for j, dp := range m.Histogram().DataPoints().All() {
			f(j, dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for j, dp := range m.ExponentialHistogram().DataPoints().All() {
			f(j, dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for j, dp := range m.Summary().DataPoints().All() {
			f(j, dp.Attributes())
		}
	}
}

// removeIf removes the datapoints of m for which drop returns true.
func removeIf(m pmetric.Metric, drop func(pcommon.Map) bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return drop(dp.Attributes()) })
	}
}

// pointCount is the number of datapoints of m.
func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// countDecision counts an entity once per batch as kept or rolled up.
func (p *topK) countDecision(ctx context.Context, e *entity, kept bool) {
	if e.decidedGen == p.gen {
		return
	}
	e.decidedGen = p.gen
	if kept {
		p.tel.kept.Add(ctx, 1)
	} else {
		p.tel.rolledUp.Add(ctx, 1)
	}
}

// foldResource folds every datapoint of a rolled-up resource entity into its
// group's `_other_` resource.
func (p *topK) foldResource(rm pmetric.ResourceMetrics, e *entity) {
	res := rm.Resource()
	var resKey uint64
	switch {
	case e != nil && e.hasOtherKey:
		resKey = e.otherKey
	case e != nil:
		resKey = p.resRw.Hash(res.Attributes())
		e.otherKey, e.hasOtherKey = resKey, true
	default:
		resKey = p.resRw.Hash(res.Attributes())
	}
	for _, sm := range rm.ScopeMetrics().All() {
		for _, m := range sm.Metrics().All() {
			n := pointCount(m)
			if n == 0 {
				continue
			}
			t := p.folder.Target(resKey, res, &p.resRw, sm.Scope(), m)
			for j := range n {
				p.folder.AddPoint(t, m, j, &p.dpRw)
			}
		}
	}
}

// foldDatapoints folds the datapoints of rolled-up entities (datapoint mode)
// and removes them, keeping the resource for what is kept.
func (p *topK) foldDatapoints(ctx context.Context, rm pmetric.ResourceMetrics) {
	res := rm.Resource()
	resKey := p.dpResRw.Hash(res.Attributes())
	for _, sm := range rm.ScopeMetrics().All() {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
			var target fold.Metric
			haveTarget := false
			forEachAttrs(m, func(j int, a pcommon.Map) {
				eid, ok := tupleHash(p.entityKeys, res.Attributes(), a)
				if !ok {
					return
				}
				e := p.entities[attrs.Combine(groupHash(p.groupKeys, res.Attributes(), a), eid)]
				if e != nil && e.kept() {
					p.countDecision(ctx, e, true)
					return
				}
				if e != nil {
					p.countDecision(ctx, e, false)
				}
				if !haveTarget {
					target, haveTarget = p.folder.Target(resKey, res, &p.dpResRw, sm.Scope(), m), true
				}
				p.folder.AddPoint(target, m, j, &p.dpRw)
			})
			if !haveTarget {
				return false
			}
			removeIf(m, func(a pcommon.Map) bool {
				eid, ok := tupleHash(p.entityKeys, res.Attributes(), a)
				if !ok {
					return false
				}
				e := p.entities[attrs.Combine(groupHash(p.groupKeys, res.Attributes(), a), eid)]
				return e == nil || !e.kept()
			})
			return pointCount(m) == 0
		})
	}
}
