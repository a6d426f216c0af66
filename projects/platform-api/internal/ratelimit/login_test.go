package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLoginThrottle replays failed logins against a memory state with a
// fake clock and checks who may still try.
func TestLoginThrottle(t *testing.T) {
	type step struct {
		fail      []string      // "user@addr" failures recorded first
		advance   time.Duration // then the clock moves
		check     string        // then this pair asks
		wantRetry bool
	}
	const limit = 3
	fails := func(pair string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = pair
		}
		return out
	}
	// many makes n failures for user from n different addresses.
	many := func(user string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s@10.0.%d.%d", user, i/250, i%250)
		}
		return out
	}
	// spread makes n failures from addr, each for another user (never
	// reaching the pair limit).
	spread := func(addr string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d@%s", i, addr)
		}
		return out
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"under the limit", []step{{fail: fails("admin@a", limit-1), check: "admin@a"}}},
		{"the failing client is shut out", []step{{fail: fails("admin@a", limit), check: "admin@a", wantRetry: true}}},
		{"another client of the same user is not", []step{{fail: fails("admin@a", 10*limit), check: "admin@b"}}},
		{"the block ends after 30 s", []step{
			{fail: fails("admin@a", limit), advance: 29 * time.Second, check: "admin@a", wantRetry: true},
			{advance: 2 * time.Second, check: "admin@a"},
		}},
		{"the next failure doubles it", []step{
			{fail: fails("admin@a", limit), advance: 31 * time.Second, check: "admin@a"},
			{fail: fails("admin@a", 1), advance: 59 * time.Second, check: "admin@a", wantRetry: true},
			{advance: 2 * time.Second, check: "admin@a"},
		}},
		{"one address failing for many users", []step{
			{fail: spread("a", perAddress*limit-1), check: "u99@a"},
			{fail: spread("a", 1), check: "u99@a", wantRetry: true},
		}},
		{"a user attacked from many addresses: failed ones wait", []step{{fail: many("admin", perUser*limit), check: "admin@10.0.0.1", wantRetry: true}}},
		{"a user attacked from many addresses: a clean one may try", []step{{fail: many("admin", perUser*limit), check: "admin@192.0.2.1"}}},
		{"the window forgets", []step{
			{fail: many("admin", perUser*limit), advance: LoginWindow + time.Second, check: "admin@10.0.0.1"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemory()
			// Start at a window boundary so a step never straddles two.
			now := time.Unix(0, 0).Add(1000 * LoginWindow)
			m.now = func() time.Time { return now }
			l := &LoginThrottle{State: m, Limit: limit}
			ctx := context.Background()
			for i, st := range tt.steps {
				for _, f := range st.fail {
					user, addr, _ := strings.Cut(f, "@")
					if err := l.Failed(ctx, user, addr); err != nil {
						t.Fatal(err)
					}
				}
				now = now.Add(st.advance)
				user, addr, _ := strings.Cut(st.check, "@")
				retry, err := l.Check(ctx, user, addr)
				if err != nil || (retry > 0) != st.wantRetry {
					t.Fatalf("step %d: %s retry %v (%v), want refused=%v", i, st.check, retry, err, st.wantRetry)
				}
			}
		})
	}
}

func TestLoginBackoff(t *testing.T) {
	for step, want := range map[int]time.Duration{0: 30 * time.Second, 1: time.Minute, 4: 8 * time.Minute, 5: LoginWindow, 64: LoginWindow} {
		if got := loginBackoff(step); got != want {
			t.Errorf("step %d: %v, want %v", step, got, want)
		}
	}
}
