package cardinality

import (
	"fmt"
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

func TestRateBucket(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	type step struct {
		at     time.Duration
		charge uint64 // after the admission check
		ok     bool
		wait   time.Duration
	}
	for _, c := range []struct {
		name  string
		rate  int
		steps []step
	}{
		{"burst then debt", 10, []step{
			{0, 150, true, 0}, // 100 tokens (10 s of 10/s): taken, 50 in debt
			{time.Second, 0, false, 4100 * time.Millisecond}, // 40 in debt: (40+1)/10 s
			{5 * time.Second, 0, false, 100 * time.Millisecond},
			{5100 * time.Millisecond, 5, true, 0},                       // 1 token
			{5200 * time.Millisecond, 0, false, 400 * time.Millisecond}, // 3 in debt
		}},
		{"refill stops at the burst", 10, []step{
			{time.Hour, 101, true, 0},                     // an hour idle gave 100 tokens, not 36,000
			{time.Hour, 0, false, 200 * time.Millisecond}, // 1 in debt
		}},
		{"steady sender at its rate", 1000, []step{
			{0, 10_000, true, 0}, // every 10 s, 10 s of its rate
			{10 * time.Second, 10_000, true, 0},
			{20 * time.Second, 10_000, true, 0},
			{25 * time.Second, 16_000, true, 0}, // 5,000 tokens: 11,000 in debt
			{30 * time.Second, 0, false, 6*time.Second + time.Millisecond},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newRateBucket(c.rate, t0)
			for i, s := range c.steps {
				ok, wait := b.admit(at(s.at))
				if ok != s.ok || (wait-s.wait).Abs() > time.Millisecond {
					t.Fatalf("step %d at %s: admit %v wait %s, want %v %s", i, s.at, ok, wait, s.ok, s.wait)
				}
				if ok {
					b.charge(at(s.at), s.charge)
				}
			}
		})
	}
}

// TestTeamDatapointQuota: a team over its datapoints/s quota has its
// resources refused (named, with how long to wait) while another team's
// are taken; the team gets its rate back as time passes, and an override
// applies per team.
func TestTeamDatapointQuota(t *testing.T) {
	clk := newClock()
	tr := New(Limits{
		TeamQuota:  TeamQuota{MaxDatapointsPerSecond: 10},
		TeamQuotas: map[string]TeamQuota{"team-c": {MaxDatapointsPerSecond: 1000}},
	}, clk.now)
	// 150 points in one resource.
	pts := make([][]*common.KeyValue, 150)
	for i := range pts {
		pts[i] = []*common.KeyValue{otlptest.KV("i", fmt.Sprint(i))}
	}
	body := otlptest.Marshal(otlptest.Request(otlptest.RM([]*common.KeyValue{otlptest.KV("host.name", "h")}, otlptest.Gauge("m", 1, pts...))))
	apply := func(team, stream string) Result {
		b := tr.Batch(stream, team)
		if err := otlpwire.Walk(body, b); err != nil {
			b.Discard()
			t.Fatal(err)
		}
		return b.Done()
	}
	if r := apply("team-a", "a"); r.Points != 150 || r.Rejected != 0 {
		t.Fatalf("team A's first request (within the burst, leaving a debt): %+v", r)
	}
	r := apply("team-a", "a")
	if r.Points != 0 || r.Rejected != 150 || r.Throttled != 150 || r.Reason != RefusedTeamDatapoints ||
		(r.RetryAfter-5100*time.Millisecond).Abs() > time.Millisecond {
		t.Fatalf("team A over its quota: %+v, want 150 throttled, retry after 5.1s", r)
	}
	// Another stream of the same team shares the quota.
	if r := apply("team-a", "a2"); r.Throttled != 150 {
		t.Fatalf("team A's other stream: %+v", r)
	}
	if r := apply("team-b", "b"); r.Points != 150 || r.Rejected != 0 {
		t.Fatalf("team B beside team A's flood: %+v", r)
	}
	if r := apply("team-c", "c"); r.Points != 150 {
		t.Fatalf("team C with its override: %+v", r)
	}
	if r := apply("team-c", "c"); r.Points != 150 {
		t.Fatalf("team C's second request (override 1000/s): %+v", r)
	}
	if got := tr.Refused()[RefusedTeamDatapoints]; got != 300 {
		t.Errorf("tracker-wide %s refusals: %d, want 300", RefusedTeamDatapoints, got)
	}
	if rep := report(t, tr, "a"); rep.ActiveSeries != 150 {
		t.Errorf("stream a holds %d series, want the 150 of the admitted request", rep.ActiveSeries)
	}
	clk.add(5200 * time.Millisecond)
	if r := apply("team-a", "a"); r.Points != 150 {
		t.Fatalf("team A after paying its debt: %+v", r)
	}
}
