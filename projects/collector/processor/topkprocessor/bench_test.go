package topkprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// BenchmarkProcess measures the cost per datapoint at 10k and 100k processes
// (100 per host, default config: top 10 per host, the rest rolled up).
func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			p, c := newTestTopK(b, nil)
			hostmetricstest.Bench(b, n, p.process, func(t time.Time) { c.t = t })
		})
	}
}
