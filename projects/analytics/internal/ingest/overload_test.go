package ingest

import (
	"bytes"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestOverload floods ingest with new series under a small memory limit:
// requests past it get 503 (or 429) with Retry-After, and the heap peak
// stays within the limit plus 10%.
func TestOverload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 40 MB of requests")
	}
	bodies := otlptest.ProcessFleet(0, 40_000, 1000) // 400k series, 400 bodies
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := int64(sample[0].Value.Uint64())
	limit := base + 32<<20
	s, hs := newServer(t, Config{MemoryLimitBytes: limit, MaxBodyBytes: 1 << 20, MaxInflightBytes: 4 << 20},
		cardinality.Limits{ExactSeriesPerStream: 10_000_000, MaxSeriesTotal: 10_000_000})

	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			default:
			}
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(time.Millisecond) // sampling period, not a wait for a condition
		}
	}()

	var next, ok, refused, other atomic.Int64
	var retryMissing atomic.Bool
	client := &http.Client{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				resp, err := client.Post(hs.URL+"/v1/metrics", "application/x-protobuf", bytes.NewReader(bodies[i]))
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 429, 503:
					refused.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						retryMissing.Store(true)
					}
				default:
					other.Add(1)
				}
			}
		}()
	}
	for next.Load() < int64(len(bodies)) {
		runtime.Gosched()
	}
	close(done)
	wg.Wait()
	client.CloseIdleConnections()
	t.Logf("limit %d MiB (base %d MiB): ok %d refused %d other %d, peak heap %d MiB, series %d",
		limit>>20, base>>20, ok.Load(), refused.Load(), other.Load(), peak.Load()>>20, s.tracker.TotalSeries())
	if refused.Load() == 0 {
		t.Fatal("no request was refused")
	}
	if other.Load() != 0 {
		t.Errorf("%d requests failed otherwise", other.Load())
	}
	if retryMissing.Load() {
		t.Error("a refusal had no Retry-After")
	}
	if p := peak.Load(); !raceEnabled && float64(p) > float64(limit)*1.1 {
		t.Errorf("peak heap %d MiB over limit %d MiB + 10%%", p>>20, limit>>20)
	}
	runtime.KeepAlive(bodies)
}
