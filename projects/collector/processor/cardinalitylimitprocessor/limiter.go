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
	metrics   map[string]map[uint64]struct{}
	lastReset time.Time
	folder    *fold.Folder
	resRw     attrs.Rewrite
	dpRw      attrs.Rewrite
	dpHash    attrs.Rewrite // the identity rewrite: attrs.Map with a memo of recent pairs
	resHash   attrs.Rewrite // the same for resources (host.name and owner repeat across a host's processes)
	// Per-batch counts, added to the counters once per batch.
	admitted, folded, dropped, refused int64
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
		metrics: map[string]map[uint64]struct{}{},
		folder:  fold.New(),
		resRw:   attrs.Rewrite{Keep: keep},
		dpRw:    attrs.Rewrite{Keep: keep, ExtraKey: OverflowKey},
	}, nil
}

// series returns the admitted set of metric name, nil when max_metrics is
// reached.
func (l *limiter) series(name string) map[uint64]struct{} {
	if s, ok := l.metrics[name]; ok {
		return s
	}
	if len(l.metrics) >= l.cfg.MaxMetrics {
		return nil
	}
	s := make(map[uint64]struct{})
	l.metrics[name] = s
	return s
}

// admit reports whether the series passes, admitting it if there is room.
func (l *limiter) admit(set map[uint64]struct{}, key uint64) bool {
	if set == nil {
		l.refused++
		return false
	}
	if _, ok := set[key]; ok {
		return true
	}
	if len(set) >= l.cfg.Limit {
		return false
	}
	set[key] = struct{}{}
	l.admitted++
	return true
}

// process is the processorhelper function: it never fails on bad data.
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
		res := rm.Resource()
		resHash := l.resHash.Hash(res.Attributes())
		var resKey uint64
		haveResKey := false
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				set := l.series(m.Name())
				var target fold.Metric
				haveTarget := false
				// over decides one datapoint: false keeps it; true removes it
				// after folding it (action fold) or counting it (drop).
				over := func(a pcommon.Map) bool {
					if l.admit(set, attrs.Combine(resHash, l.dpHash.Hash(a))) {
						return false
					}
					if l.cfg.Action == ActionDrop {
						l.dropped++
						return true
					}
					if !haveTarget {
						if !haveResKey {
							resKey, haveResKey = l.resRw.Hash(res.Attributes()), true
						}
						target, haveTarget = l.folder.Target(resKey, res, &l.resRw, sm.Scope(), m), true
					}
					l.folded++
					return true
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
						if !over(dp.Attributes()) {
							return false
						}
						if haveTarget {
							l.folder.FoldNumber(target, dp, &l.dpRw)
						}
						return true
					})
					return m.Gauge().DataPoints().Len() == 0
				case pmetric.MetricTypeSum:
					m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
						if !over(dp.Attributes()) {
							return false
						}
						if haveTarget {
							l.folder.FoldNumber(target, dp, &l.dpRw)
						}
						return true
					})
					return m.Sum().DataPoints().Len() == 0
				case pmetric.MetricTypeHistogram:
					m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
						if !over(dp.Attributes()) {
							return false
						}
						if haveTarget {
							l.folder.FoldHistogram(target, dp, &l.dpRw)
						}
						return true
					})
					return m.Histogram().DataPoints().Len() == 0
				case pmetric.MetricTypeExponentialHistogram:
					m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
						if !over(dp.Attributes()) {
							return false
						}
						if haveTarget {
							l.folder.FoldExponentialHistogram(target, dp, &l.dpRw)
						}
						return true
					})
					return m.ExponentialHistogram().DataPoints().Len() == 0
				case pmetric.MetricTypeSummary:
					m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
						if !over(dp.Attributes()) {
							return false
						}
						if haveTarget {
							l.folder.FoldSummary(target, dp, &l.dpRw)
						}
						return true
					})
					return m.Summary().DataPoints().Len() == 0
				}
				return false
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	l.folder.MoveTo(rms)
	l.count(ctx)
	return md, nil
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
