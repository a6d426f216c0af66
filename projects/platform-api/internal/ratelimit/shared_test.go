package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// TestSharedStates runs the same contract over memory and Redis.
func TestSharedStates(t *testing.T) {
	impls := map[string]func(t *testing.T) State{
		"memory": func(*testing.T) State { return NewMemory() },
		"redis": func(t *testing.T) State {
			r, err := NewRedis(context.Background(), "redis://"+testutil.RedisAddr(t)+"/0")
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, mk := range impls {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			defer s.Close()
			ctx := context.Background()
			key := fmt.Sprintf("test:%d", time.Now().UnixNano())
			// An hour-long window cannot roll over during the test.
			for i := range 3 {
				ok, _, err := s.Allow(ctx, key, 3, time.Hour)
				if err != nil || !ok {
					t.Fatalf("request %d refused: %v", i, err)
				}
			}
			ok, retry, err := s.Allow(ctx, key, 3, time.Hour)
			if err != nil || ok || retry <= 0 {
				t.Fatalf("4th request: ok=%v retry=%v err=%v", ok, retry, err)
			}
			if n, _, err := s.Count(ctx, key, time.Hour); err != nil || n != 4 {
				t.Fatalf("count %d %v", n, err)
			}
			if rev, _ := s.Revoked(ctx, key); rev {
				t.Fatal("revoked before revoke")
			}
			if err := s.Revoke(ctx, key, time.Minute); err != nil {
				t.Fatal(err)
			}
			if rev, err := s.Revoked(ctx, key); !rev || err != nil {
				t.Fatalf("not revoked: %v", err)
			}
			if left, err := s.Blocked(ctx, key); left != 0 || err != nil {
				t.Fatalf("blocked before Block (revocations are another namespace): %v %v", left, err)
			}
			if err := s.Block(ctx, key, time.Minute); err != nil {
				t.Fatal(err)
			}
			if left, err := s.Blocked(ctx, key); left <= 50*time.Second || left > time.Minute || err != nil {
				t.Fatalf("blocked for %v (%v), want about a minute", left, err)
			}
		})
	}
}

func TestMemoryStateBounded(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	for i := range memoryMaxEntries {
		m.counters[fmt.Sprintf("k%d", i)] = memCounter{n: 1, end: now.Add(time.Minute)}
	}
	if _, _, err := m.Allow(ctx, "new", 10, time.Minute); err != ErrFull {
		t.Fatalf("full map accepted a new key: %v", err)
	}
	now = now.Add(2 * time.Minute) // everything expired: the sweep makes room
	if ok, _, err := m.Allow(ctx, "new", 10, time.Minute); err != nil || !ok {
		t.Fatalf("after expiry: %v %v", ok, err)
	}
	if len(m.counters) != 1 {
		t.Fatalf("sweep left %d counters", len(m.counters))
	}
}
