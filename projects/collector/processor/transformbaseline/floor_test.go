package transformbaseline

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

var sink uint64

// BenchmarkReadFloor is what any processor pays to read the same data at
// all: every resource's and datapoint's attributes hashed, one timestamp read,
// nothing written. It puts the ratios to transform in proportion: no
// processor that looks at each series can cost less than this.
func BenchmarkReadFloor(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			hostmetricstest.Bench(b, n, func(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
				var acc uint64
				for _, rm := range md.ResourceMetrics().All() {
					acc += attrs.Map(rm.Resource().Attributes())
					for _, sm := range rm.ScopeMetrics().All() {
						for _, m := range sm.Metrics().All() {
							var dps pmetric.NumberDataPointSlice
							switch m.Type() {
							case pmetric.MetricTypeSum:
								dps = m.Sum().DataPoints()
							case pmetric.MetricTypeGauge:
								dps = m.Gauge().DataPoints()
							}
							for _, dp := range dps.All() {
								acc += attrs.Map(dp.Attributes()) + uint64(dp.Timestamp())
							}
						}
					}
				}
				sink += acc
				return md, nil
			}, nil)
		})
	}
}
