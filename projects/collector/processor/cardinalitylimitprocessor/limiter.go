package cardinalitylimitprocessor

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
	"github.com/phoenix-platform/phoenix/projects/collector/internal/fold"
)

// OverflowKey marks the series that holds what exceeded the limit; the name
// is the OpenTelemetry SDKs' for the same purpose.
const OverflowKey = "otel.metric.overflow"

// limiter is the processor state: the admitted series per metric name.
type limiter struct {
	cfg *Config
	tel *telemetry
	now func() time.Time

	mu        sync.Mutex
	metrics   map[string]*admittedSet
	lastReset time.Time
	folder    *fold.Folder
	resRw     attrs.Rewrite
	dpRw      attrs.Rewrite
	dpHash    attrs.Rewrite // the identity rewrite: attrs.Map with a memo of recent pairs
	resHash   attrs.Rewrite // the same for resources (host.name and owner repeat across a host's processes)
	// Per-batch counts, added to the counters once per batch.
	admitted, folded, dropped, refused int64
	// lastDp is the identity hash of the datapoint attributes over hashed
	// last; foldKeys memoises their fold hash by it (foldKey).
	lastDp   uint64
	foldKeys [foldKeyMemo]struct {
		id, key uint64
		ok      bool
	}
	// decisions of the ResourceMetrics being processed, one per datapoint
	// in order (true: remove); reused, it grows to the largest resource.
	decisions []bool
}

func newLimiter(cfg *Config, set component.TelemetrySettings) (*limiter, error) {
	tel, err := newTelemetry(set)
	if err != nil {
		return nil, err
	}
	keep := attrs.NewSet(cfg.NeverDrop...)
	return &limiter{
		cfg:     cfg,
		tel:     tel,
		now:     time.Now,
		metrics: map[string]*admittedSet{},
		folder:  fold.New(),
		resRw:   attrs.Rewrite{Keep: keep},
		dpRw:    attrs.Rewrite{Keep: keep, ExtraKey: OverflowKey},
	}, nil
}

// series returns the admitted set of metric name, nil when max_metrics is
// reached.
func (l *limiter) series(name string) *admittedSet {
	if s, ok := l.metrics[name]; ok {
		return s
	}
	if len(l.metrics) >= l.cfg.MaxMetrics {
		return nil
	}
	s := newAdmittedSet()
	l.metrics[name] = s
	return s
}

// admit reports whether the series passes, admitting it if there is room.
func (l *limiter) admit(set *admittedSet, key uint64) bool {
	if set == nil {
		l.refused++
		return false
	}
	if set.has(key) {
		return true
	}
	if set.len() >= l.cfg.Limit {
		return false
	}
	set.add(key)
	l.admitted++
	return true
}

// process is the processorhelper function: it never fails on bad data.
//
// Each ResourceMetrics is decided first (admitting, folding or dropping every
// datapoint, reading only) and edited after: a resource whose datapoints all
// go is removed whole, one whose datapoints all pass is not written at all,
// and only a mixed one has its datapoints removed one by one. Removing a
// datapoint from pdata clears it, a write to memory the receiver has just
// filled: in BenchmarkProcess that cost more than every decision together.
func (l *limiter) process(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); l.cfg.ResetInterval > 0 && now.Sub(l.lastReset) >= l.cfg.ResetInterval {
		clear(l.metrics)
		l.lastReset = now
	}
	l.folder.Reset()
	l.admitted, l.folded, l.dropped, l.refused = 0, 0, 0, 0
	rms := md.ResourceMetrics()
	rms.RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		removed, survivors, prune := l.decide(rm)
		switch {
		case survivors == 0:
			return true
		case removed == 0 && !prune:
			return false
		}
		l.edit(rm)
		return false
	})
	if cap(l.decisions) > maxKeptDecisions {
		l.decisions = nil // one huge resource must not pin its buffer
	}
	l.folder.MoveTo(rms)
	l.count(ctx)
	return md, nil
}

// foldKeyMemo is the number of memoised fold hashes (a power of two).
const foldKeyMemo = 64

// maxKeptDecisions bounds the decision buffer kept between batches.
const maxKeptDecisions = 1 << 16

// resourceCtx is what deciding one ResourceMetrics needs about its resource.
type resourceCtx struct {
	res     pcommon.Resource
	hash    uint64 // identity hash of the resource attributes
	key     uint64 // hash of the rewritten resource (the fold target's)
	haveKey bool
}

// metricCtx is what deciding one metric's datapoints needs.
type metricCtx struct {
	set        *admittedSet
	scope      pcommon.InstrumentationScope
	m          pmetric.Metric
	target     fold.Metric
	haveTarget bool
}

// decide decides every datapoint of rm, folding what is over the limit, and
// records the decisions (true: remove) in order in l.decisions. It returns
// how many datapoints go, how many metrics keep at least one, and whether a
// metric or scope would be left (or already is) empty.
func (l *limiter) decide(rm pmetric.ResourceMetrics) (removed, survivors int, prune bool) {
	l.decisions = l.decisions[:0]
	rc := resourceCtx{res: rm.Resource()}
	rc.hash = l.resHash.Hash(rc.res.Attributes())
	for _, sm := range rm.ScopeMetrics().All() {
		kept := 0
		for _, m := range sm.Metrics().All() {
			mc := metricCtx{set: l.series(m.Name()), scope: sm.Scope(), m: m}
			n, gone := 0, 0
			switch m.Type() {
			case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
				var dps pmetric.NumberDataPointSlice
				if m.Type() == pmetric.MetricTypeGauge {
					dps = m.Gauge().DataPoints()
				} else {
					dps = m.Sum().DataPoints()
				}
				n = dps.Len()
				for i := range n {
					dp := dps.At(i)
					if l.over(&rc, &mc, dp.Attributes()) {
						gone++
						if mc.haveTarget {
							l.folder.FoldNumberKey(mc.target, dp, l.foldKey(dp.Attributes()), &l.dpRw)
						}
					}
				}
			case pmetric.MetricTypeHistogram:
				n, gone = decidePoints(l, &rc, &mc, m.Histogram().DataPoints(), l.folder.FoldHistogram)
			case pmetric.MetricTypeExponentialHistogram:
				n, gone = decidePoints(l, &rc, &mc, m.ExponentialHistogram().DataPoints(), l.folder.FoldExponentialHistogram)
			case pmetric.MetricTypeSummary:
				n, gone = decidePoints(l, &rc, &mc, m.Summary().DataPoints(), l.folder.FoldSummary)
			default:
				// A metric without data (type Empty) passes as it came.
				kept++
				continue
			}
			removed += gone
			if gone == n {
				prune = true
				continue
			}
			kept++
		}
		if kept == 0 {
			prune = true
		}
		survivors += kept
	}
	return removed, survivors, prune
}

// pointSlice is what decidePoints needs of a pdata datapoint slice.
type pointSlice[P any] interface {
	Len() int
	At(int) P
}

// decidePoints decides the datapoints of one histogram, exponential
// histogram or summary metric, folding with foldFn what goes (number
// metrics, the hot path, have their own loop in decide). It returns how
// many datapoints there are and how many go.
func decidePoints[P interface{ Attributes() pcommon.Map }, S pointSlice[P]](
	l *limiter, rc *resourceCtx, mc *metricCtx, dps S, foldFn func(fold.Metric, P, *attrs.Rewrite),
) (n, gone int) {
	n = dps.Len()
	for i := range n {
		dp := dps.At(i)
		if l.over(rc, mc, dp.Attributes()) {
			gone++
			if mc.haveTarget {
				foldFn(mc.target, dp, &l.dpRw)
			}
		}
	}
	return n, gone
}

// over decides one datapoint and records the decision: false keeps it; true
// removes it after the caller folds it (action fold, mc.haveTarget) or after
// counting it (drop).
func (l *limiter) over(rc *resourceCtx, mc *metricCtx, a pcommon.Map) bool {
	l.lastDp = l.dpHash.Hash(a)
	if l.admit(mc.set, attrs.Combine(rc.hash, l.lastDp)) {
		l.decisions = append(l.decisions, false)
		return false
	}
	l.decisions = append(l.decisions, true)
	if l.cfg.Action == ActionDrop {
		l.dropped++
		return true
	}
	if !mc.haveTarget {
		if !rc.haveKey {
			rc.key, rc.haveKey = l.resRw.Hash(rc.res.Attributes()), true
		}
		mc.target, mc.haveTarget = l.folder.Target(rc.key, rc.res, &l.resRw, mc.scope, mc.m), true
	}
	l.folded++
	return true
}

// foldKey is l.dpRw.Hash(a) for the datapoint attributes over last hashed
// (l.lastDp is their identity hash). The rewritten hash is a function of
// the attributes, so a few entries keyed by the identity hash spare a second
// walk over them: datapoint attribute sets repeat (state=user, ...).
func (l *limiter) foldKey(a pcommon.Map) uint64 {
	e := &l.foldKeys[l.lastDp&(foldKeyMemo-1)]
	if e.ok && e.id == l.lastDp {
		return e.key
	}
	e.id, e.key, e.ok = l.lastDp, l.dpRw.Hash(a), true
	return e.key
}

// edit applies l.decisions to rm: it removes the decided datapoints, then
// the metrics and scopes left empty.
func (l *limiter) edit(rm pmetric.ResourceMetrics) {
	k := 0
	next := func() bool {
		r := l.decisions[k]
		k++
		return r
	}
	rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return next() })
				return m.Gauge().DataPoints().Len() == 0
			case pmetric.MetricTypeSum:
				m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return next() })
				return m.Sum().DataPoints().Len() == 0
			case pmetric.MetricTypeHistogram:
				m.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return next() })
				return m.Histogram().DataPoints().Len() == 0
			case pmetric.MetricTypeExponentialHistogram:
				m.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return next() })
				return m.ExponentialHistogram().DataPoints().Len() == 0
			case pmetric.MetricTypeSummary:
				m.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return next() })
				return m.Summary().DataPoints().Len() == 0
			}
			return false
		})
		return sm.Metrics().Len() == 0
	})
}

// count adds the batch's counts to the self-metrics, once per batch.
func (l *limiter) count(ctx context.Context) {
	if l.admitted > 0 {
		l.tel.admitted.Add(ctx, l.admitted)
	}
	if l.folded > 0 {
		l.tel.folded.Add(ctx, l.folded)
	}
	if l.dropped > 0 {
		l.tel.dropped.Add(ctx, l.dropped)
	}
	if l.refused > 0 {
		l.tel.refused.Add(ctx, l.refused)
	}
}
