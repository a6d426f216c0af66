package cardinalitylimitprocessor

import (
	"fmt"
	"testing"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// BenchmarkProcess measures the cost per datapoint at 10k and 100k processes
// in the two regimes of a cap: over it (the default limit of 1000 series per
// metric, so nearly every series folds into its host's overflow series) and
// under it (every series admitted: the everyday case of a cap set as a
// safety net, where the admitted sets hold 100k-300k series per metric).
func BenchmarkProcess(b *testing.B) {
	for _, regime := range []struct {
		name string
		mut  func(*Config)
	}{
		{"over_limit", func(c *Config) { c.NeverDrop = []string{"host.name"} }},
		{"under_limit", func(c *Config) { c.Limit = 1_000_000; c.NeverDrop = []string{"host.name"} }},
	} {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/entities=%d", regime.name, n), func(b *testing.B) {
				l, _ := newTestLimiter(b, regime.mut)
				hostmetricstest.Bench(b, n, l.process, nil)
			})
		}
	}
}
