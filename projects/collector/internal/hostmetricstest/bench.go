package hostmetricstest

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ProcessFunc is a processor's batch function under benchmark.
type ProcessFunc func(context.Context, pmetric.Metrics) (pmetric.Metrics, error)

// PerHost is the number of processes per host in benchmarks: a busy server.
const PerHost = 100

// Bench runs process over scrapes of a fleet of `entities` processes (100 per
// host), one scrape every 10 s of simulated time, and reports the cost per
// input datapoint as ns/dp. Building each scrape is not timed. setNow, if not
// nil, moves the processor's clock to each scrape's time.
func Bench(b *testing.B, entities int, process ProcessFunc, setNow func(time.Time)) {
	fleet := Fleet(entities/PerHost, PerHost)
	t := Epoch
	ctx := context.Background()
	// Warm state up so the benchmark measures the steady state, not the
	// first window's per-batch ranking.
	for range 8 {
		t = t.Add(10 * time.Second)
		if setNow != nil {
			setNow(t)
		}
		if _, err := process(ctx, Scrape(fleet, t)); err != nil {
			b.Fatal(err)
		}
	}
	var points int
	var cpu time.Duration
	// The thread's CPU time, besides wall time: on a shared machine wall time
	// mostly measures the neighbours.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		t = t.Add(10 * time.Second)
		if setNow != nil {
			setNow(t)
		}
		md := Scrape(fleet, t)
		points += md.DataPointCount()
		// Collect the generator's garbage now, so the timed part pays only
		// for the processor's own.
		runtime.GC()
		b.StartTimer()
		before := threadCPU()
		if _, err := process(ctx, md); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - before
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(points), "ns/dp")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(points), "cpu-ns/dp")
	}
}

// threadCPU is the calling thread's CPU time (Linux RUSAGE_THREAD); zero
// where unsupported.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
