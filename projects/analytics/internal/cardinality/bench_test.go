package cardinality

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// BenchmarkIngest applies pre-built 1000-datapoint OTLP requests (process
// metrics shape) to a warm tracker: validate + walk + track, per datapoint.
func BenchmarkIngest(b *testing.B) {
	for _, series := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			procs := series / otlptest.SeriesPerProcess
			bodies := otlptest.ProcessFleet(0, procs, 1000)
			tr := New(Limits{ExactSeriesPerStream: 2_000_000, MaxSeriesTotal: 4_000_000}, nil)
			for _, body := range bodies {
				ingest(tr, body)
			}
			benchIngest(b, tr, bodies)
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ingest(tr *Tracker, body []byte) int {
	bt := tr.Batch("", "")
	if err := otlpwire.Walk(body, bt); err != nil {
		panic(err)
	}
	return int(bt.Done().Points)
}

// BenchmarkIngestUnordered is BenchmarkIngest for a sender whose series
// never come in the same order twice: 100k single-series resources, sent in
// four different orders in turn. The table's arrival order predicts none of
// them, so this measures the index path (with its warm-up), where
// BenchmarkIngest measures the predicted one.
func BenchmarkIngestUnordered(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	var bodies [][]byte
	for range 4 {
		perm := rng.Perm(n)
		for first := 0; first < n; first += 1000 {
			var rms []*metrics.ResourceMetrics
			for _, p := range perm[first : first+1000] {
				rms = append(rms, otlptest.RM(otlptest.ProcessResource(fmt.Sprintf("host-%d", p/100), "nginx", p),
					otlptest.Gauge("process.memory.usage", float64(p), nil)))
			}
			bodies = append(bodies, otlptest.Marshal(otlptest.Request(rms...)))
		}
	}
	tr := New(Limits{ExactSeriesPerStream: 2_000_000, MaxSeriesTotal: 4_000_000}, nil)
	for _, body := range bodies {
		ingest(tr, body)
	}
	benchIngest(b, tr, bodies)
}

// benchIngest applies bodies to tr in turn, per datapoint.
func benchIngest(b *testing.B, tr *Tracker, bodies [][]byte) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i, dp := 0, 0
	for b.Loop() {
		dp += ingest(tr, bodies[i%len(bodies)])
		i++
	}
	// CPU time is steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(dp), "cpu-ns/dp")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(dp), "ns/dp")
	b.ReportMetric(float64(dp)/b.Elapsed().Seconds(), "dp/s")
}

// BenchmarkMemoryPerSeries reports heap bytes per tracked series, with and
// without the label value strings (which the target excludes).
func BenchmarkMemoryPerSeries(b *testing.B) {
	const procs = 100_000 // 1M series
	bodies := otlptest.ProcessFleet(0, procs, 1000)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tr := New(Limits{ExactSeriesPerStream: 2_000_000}, nil)
		for _, body := range bodies {
			ingest(tr, body)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := tr.TotalSeries()
		s := tr.Stream("default")
		var strBytes int
		s.mu.Lock()
		for _, ls := range s.sets {
			for _, a := range ls.attrs {
				strBytes += len(a.val)
			}
		}
		s.mu.Unlock()
		total := float64(after.HeapAlloc - before.HeapAlloc)
		b.ReportMetric(total/float64(n), "B/series")
		b.ReportMetric((total-float64(strBytes))/float64(n), "B/series-excl-strings")
		runtime.KeepAlive(tr)
	}
}

// BenchmarkReport is the cost of one cardinality answer (snapshot under the
// stream lock, then the breakdown outside it) for a process fleet.
func BenchmarkReport(b *testing.B) {
	for _, series := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%d", series), func(b *testing.B) {
			tr := New(Limits{ExactSeriesPerStream: 2_000_000}, nil)
			for _, body := range otlptest.ProcessFleet(0, series/otlptest.SeriesPerProcess, 1000) {
				ingest(tr, body)
			}
			s := tr.Stream("default")
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Snapshot().Report(10)
			}
		})
	}
}

// BenchmarkEstimate: one drop-label and one top-k estimate over a fleet.
func BenchmarkEstimate(b *testing.B) {
	tr := New(Limits{}, nil)
	for _, body := range otlptest.ProcessFleet(0, 10_000, 1000) { // 100k series
		ingest(tr, body)
	}
	sn := tr.Stream("default").Snapshot()
	keys := []string{"process.pid", "process.command_line", "process.executable.name"}
	b.Run("drop", func(b *testing.B) {
		for b.Loop() {
			if _, err := sn.Estimate(apiv1.EstimateRequest{DropLabels: []string{"process.pid"}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("topk", func(b *testing.B) {
		for b.Loop() {
			if _, err := sn.Estimate(apiv1.EstimateRequest{TopK: &apiv1.TopKEstimate{EntityKeys: keys, GroupBy: []string{"host.name"}, K: 5}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
