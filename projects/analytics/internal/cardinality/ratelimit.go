package cardinality

import (
	"sync"
	"time"
)

// RefusedTeamDatapoints is the refusal of a resource whose team is over its
// datapoints/s quota.
const RefusedTeamDatapoints = "team_datapoint_quota"

// burstSeconds is how many seconds of its rate a team may send at once:
// collectors export every 10 to 60 s, so a steady sender's request carries
// many seconds of points.
const burstSeconds = 10

// rateBucket is a team's datapoints/s quota: a token bucket that may go
// into debt. A stream switch is admitted while the bucket holds a token; the
// points applied are charged afterwards, once per stream segment, so the
// check costs nothing per datapoint. A request bigger than the tokens left
// is taken and leaves a debt that refuses the team's next resources until
// it is paid back at the quota's rate: on average the team gets its rate.
type rateBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func newRateBucket(perSecond int, now time.Time) *rateBucket {
	r := float64(perSecond)
	return &rateBucket{rate: r, burst: r * burstSeconds, tokens: r * burstSeconds, last: now.UnixNano()}
}

func (b *rateBucket) refill(now int64) {
	if now > b.last {
		b.tokens = min(b.burst, b.tokens+b.rate*float64(now-b.last)/1e9)
		b.last = now
	}
}

// admit reports whether the team may send now; when not, wait is how long
// until it may.
func (b *rateBucket) admit(now int64) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens > 0 {
		return true, 0
	}
	return false, time.Duration((-b.tokens + 1) / b.rate * 1e9)
}

// charge takes n points from the bucket.
func (b *rateBucket) charge(now int64, n uint64) {
	b.mu.Lock()
	b.refill(now)
	b.tokens -= float64(n)
	b.mu.Unlock()
}

// Throttled reports whether stream id exists and its team is over its
// datapoints/s quota now, and how long until it may send: a request bound
// to one stream (remote write) can be refused before its body is read.
func (t *Tracker) Throttled(id string) (time.Duration, bool) {
	s := t.Stream(id)
	if s == nil {
		return 0, false
	}
	ok, wait := s.usage.rate.admit(t.now().UnixNano())
	return wait, !ok
}
