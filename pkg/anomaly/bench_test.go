package anomaly

import (
	"testing"
	"time"
)

// BenchmarkObserve is the per-point cost of the ensemble on a seasonal series
// after warm-up (season learned, forest built).
func BenchmarkObserve(b *testing.B) {
	xs := synth(4096, 288, 30, 1, nil)
	e, _ := New(Settings{})
	for i, x := range xs[:2048] {
		e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Observe(t0.Add(time.Duration(i)*time.Minute), xs[i%len(xs)])
		i++
	}
}

// BenchmarkSnapshot is the cost of encoding one series' state, the work a
// service does per series when it persists state.
func BenchmarkSnapshot(b *testing.B) {
	e, _ := New(Settings{})
	for i, x := range synth(2048, 288, 30, 1, nil) {
		e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		buf, err := e.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		size = len(buf)
	}
	b.ReportMetric(float64(size), "state_bytes")
}
