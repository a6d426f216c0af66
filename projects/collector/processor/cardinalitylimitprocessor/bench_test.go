package cardinalitylimitprocessor

import (
	"fmt"
	"testing"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// BenchmarkProcess measures the cost per datapoint at 10k and 100k processes
// with the default limit (1000 series per metric): most series fold.
func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			l, _ := newTestLimiter(b, func(c *Config) { c.NeverDrop = []string{"host.name"} })
			hostmetricstest.Bench(b, n, l.process, nil)
		})
	}
}
