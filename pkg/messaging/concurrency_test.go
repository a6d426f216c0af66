package messaging

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndpointServesConcurrently: a request to an endpoint does not wait
// for an earlier, slow request to the same endpoint (micro delivers each
// endpoint's requests on one goroutine), and MaxConcurrent bounds how many
// run at once.
func TestEndpointServesConcurrently(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int
		wantMax int32
	}{
		{"bounded at 1", 1, 1},
		{"bounded at 3", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Connect(context.Background(), Settings{DataDir: t.TempDir(), Name: "test-concurrency"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			var running, peak atomic.Int32
			release := make(chan struct{})
			subj := fmt.Sprintf("phoenix.test.slow%d.get", tc.max)
			svc, err := b.AddService(ServiceConfig{
				Name: fmt.Sprintf("slow%d", tc.max), Version: "1.0.0", MaxConcurrent: tc.max,
				Endpoints: []Endpoint{{Name: "get", Subject: subj, Handler: func(ctx context.Context, _ []byte) (any, error) {
					n := running.Add(1)
					defer running.Add(-1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					select {
					case <-release:
					case <-ctx.Done():
					}
					return map[string]int32{"n": n}, nil
				}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			const calls = 6
			var wg sync.WaitGroup
			errs := make(chan error, calls)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- b.Request(ctx, subj, nil, nil)
				}()
			}
			// Wait until the bound is reached, then let everything finish.
			deadline := time.Now().Add(5 * time.Second)
			for running.Load() < tc.wantMax && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := running.Load(); got != tc.wantMax {
				t.Fatalf("%d handlers running at once, want %d", got, tc.wantMax)
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("request: %v", err)
				}
			}
			if p := peak.Load(); p != tc.wantMax {
				t.Errorf("peak %d handlers at once, want %d", p, tc.wantMax)
			}
			if err := svc.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
