package aggregateprocessor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// BenchmarkProcess measures the cost per datapoint at 10k and 100k processes,
// removing the per-process labels (one output series per host and state),
// including the flush every 60 s of simulated time (every 6th scrape).
func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			p := newTestAggregator(b, nil, nil)
			var now, lastFlush time.Time
			process := func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					return md, err
				}
				if now.Sub(lastFlush) >= p.cfg.Interval {
					lastFlush = now
					return p.flush(now), nil
				}
				return md, nil
			}
			hostmetricstest.Bench(b, n, process, func(t time.Time) { now = t; p.now = func() time.Time { return t } })
		})
	}
}
