package loadgen

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// identity is what makes a process's series distinct downstream.
type identity struct {
	host string
	pid  int64
	cmd  string
}

func identityOf(rm *metricspb.ResourceMetrics) identity {
	var id identity
	for _, kv := range rm.GetResource().GetAttributes() {
		switch kv.GetKey() {
		case "host.name":
			id.host = kv.GetValue().GetStringValue()
		case "process.pid":
			id.pid = kv.GetValue().GetIntValue()
		case "process.command_line":
			id.cmd = kv.GetValue().GetStringValue()
		}
	}
	return id
}

// churn scrapes a simulation every 10s for d and measures what analytics
// would: new process identities per minute per host after the first scrape,
// the largest number of live processes per host, and the share of the
// processes that started and exited inside the window that lived < 2 min.
type churnResult struct {
	newPerMinPerHost float64
	peakPerHost      int
	firstPerHost     int
	shortLivedShare  float64
	perScrape        []int
}

func measureChurn(t *testing.T, sim *Simulation, hosts int, d time.Duration) churnResult {
	t.Helper()
	seen := map[identity][2]time.Time{} // first, last seen
	initial := map[identity]bool{}
	var res churnResult
	newCount := 0
	for at := t0; at.Before(t0.Add(d)); at = at.Add(10 * time.Second) {
		rms, err := sim.Scrape(at)
		if err != nil {
			t.Fatal(err)
		}
		res.perScrape = append(res.perScrape, len(rms))
		res.peakPerHost = max(res.peakPerHost, len(rms)/hosts)
		for _, rm := range rms {
			id := identityOf(rm)
			span, ok := seen[id]
			if !ok {
				span[0] = at
				if at.Equal(t0) {
					initial[id] = true
				} else {
					newCount++
				}
			}
			span[1] = at
			seen[id] = span
		}
	}
	res.firstPerHost = res.perScrape[0] / hosts
	res.newPerMinPerHost = float64(newCount) / (d - 10*time.Second).Minutes() / float64(hosts)
	// Lifetimes of processes born and dead inside the window.
	end := t0.Add(d - 10*time.Second)
	var complete, short int
	for id, span := range seen {
		if initial[id] || !span[1].Before(end) {
			continue
		}
		complete++
		if span[1].Sub(span[0]) < 2*time.Minute {
			short++
		}
	}
	if complete > 0 {
		res.shortLivedShare = float64(short) / float64(complete)
	}
	return res
}

// TestProfileChurn measures each profile's churn with the simulated clock
// (20-30 simulated minutes) and checks it is within 25% of what the
// profile's lifetimes imply (Profile.ChurnPerMinute: sum of count / mean
// lifetime). Processes living less than a 10 s scrape interval can be
// missed, as a real scraper misses them, hence the lower margin.
func TestProfileChurn(t *testing.T) {
	tests := []struct {
		profile      string
		hosts        int
		minutes      int
		minShortLife float64 // share of completed processes living < 2 min
	}{
		{ProfileRealistic, 3, 30, 0.5},       // tabs ~5 min, cron jobs ~1 min
		{ProfileHighCardinality, 1, 20, 0.3}, // services 30 min, workers 10, jobs 2, shims 15
		{ProfileProcessChurn, 3, 30, 0.95},   // everything but the daemons lives 20-80 s
	}
	for _, tc := range tests {
		t.Run(tc.profile, func(t *testing.T) {
			p, _ := Builtin(tc.profile)
			want := p.ChurnPerMinute()
			r := measureChurn(t, simulate(t, tc.profile, tc.hosts, 42, false), tc.hosts, time.Duration(tc.minutes)*time.Minute)
			t.Logf("%s: %.1f new processes/min/host (lifetimes imply %.1f), peak %d/host, %.0f%% of completed processes lived < 2 min",
				tc.profile, r.newPerMinPerHost, want, r.peakPerHost, 100*r.shortLivedShare)
			if r.newPerMinPerHost < 0.75*want || r.newPerMinPerHost > 1.25*want {
				t.Errorf("new processes per minute per host = %.2f, want %.1f +-25%%", r.newPerMinPerHost, want)
			}
			if r.shortLivedShare < tc.minShortLife {
				t.Errorf("share of processes living < 2 min = %.2f, want >= %.2f", r.shortLivedShare, tc.minShortLife)
			}
		})
	}
}

// TestSpikeBurst checks the spike profile multiplies its processes by 10 to
// 100 for its burst minute and returns to its base count after.
func TestSpikeBurst(t *testing.T) {
	const hosts = 2
	sim := simulate(t, ProfileSpike, hosts, 5, false)
	p, _ := Builtin(ProfileSpike)
	base := p.PerHost()
	r := measureChurn(t, sim, hosts, 25*time.Minute)
	// Scrapes every 10s: index 6 is minute 1 (burst starts), 12 is minute 2
	// (burst over), 66 is minute 11 (second burst).
	checks := []struct {
		idx            int
		minMul, maxMul float64
	}{{0, 1, 1}, {5, 1, 1}, {7, 10, 100}, {11, 10, 100}, {12, 1, 1}, {30, 1, 1}, {67, 10, 100}, {72, 1, 1}}
	for _, c := range checks {
		got := float64(r.perScrape[c.idx]) / float64(hosts*base)
		if got < c.minMul || got > c.maxMul {
			t.Errorf("scrape %d (t+%ds): %d processes = x%.1f of the base %d per host, want x%.0f..x%.0f",
				c.idx, c.idx*10, r.perScrape[c.idx], got, base, c.minMul, c.maxMul)
		}
	}
}

func marshalScrapes(t testing.TB, sim *Simulation, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	for k := range n {
		rms, err := sim.Scrape(t0.Add(time.Duration(k) * 10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: rms})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

// TestDeterministic: the same seed scraped at the same simulated times gives
// the same bytes; another seed does not.
func TestDeterministic(t *testing.T) {
	for _, profile := range []string{ProfileRealistic, ProfileHighCardinality, ProfileProcessChurn, ProfileSpike} {
		t.Run(profile, func(t *testing.T) {
			a := marshalScrapes(t, simulate(t, profile, 1, 99, false), 9)
			b := marshalScrapes(t, simulate(t, profile, 1, 99, false), 9)
			c := marshalScrapes(t, simulate(t, profile, 1, 100, false), 9)
			if !bytes.Equal(a, b) {
				t.Fatal("two runs with seed 99 produced different bytes")
			}
			if bytes.Equal(a, c) {
				t.Fatal("seeds 99 and 100 produced the same bytes")
			}
		})
	}
}

// TestCountersMonotonic: cumulative monotonic sums never decrease for a
// process, and start times stay fixed (a restart is a new PID).
func TestCountersMonotonic(t *testing.T) {
	sim := simulate(t, ProfileProcessChurn, 1, 3, false)
	type key struct {
		id     identity
		metric string
		attr   string
	}
	last := map[key]float64{}
	starts := map[identity]uint64{}
	for k := range 60 {
		rms, err := sim.Scrape(t0.Add(time.Duration(k) * 10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, rm := range rms {
			id := identityOf(rm)
			for _, m := range rm.ScopeMetrics[0].Metrics {
				s := m.GetSum()
				for _, dp := range s.GetDataPoints() {
					if st, ok := starts[id]; ok && st != dp.StartTimeUnixNano {
						t.Fatalf("%v %s: start time changed", id, m.Name)
					}
					starts[id] = dp.StartTimeUnixNano
					if dp.TimeUnixNano <= dp.StartTimeUnixNano {
						t.Fatalf("%v %s: time %d not after start %d", id, m.Name, dp.TimeUnixNano, dp.StartTimeUnixNano)
					}
					if !s.IsMonotonic {
						continue
					}
					v := dp.GetAsDouble() + float64(dp.GetAsInt())
					kk := key{id, m.Name, fmt.Sprint(dp.Attributes)}
					if prev, ok := last[kk]; ok && v < prev {
						t.Fatalf("%v %s: went down from %v to %v", id, m.Name, prev, v)
					}
					last[kk] = v
				}
			}
		}
	}
}

func TestScrapeBackwardsFails(t *testing.T) {
	sim := simulate(t, ProfileRealistic, 1, 1, false)
	if _, err := sim.Scrape(t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Scrape(t0); err == nil {
		t.Fatal("scraping backwards in time succeeded")
	}
}

func TestNewBounds(t *testing.T) {
	p, _ := Builtin(ProfileHighCardinality)
	if _, err := New(Config{Profile: p, Hosts: 1000, Start: t0}); err == nil {
		t.Fatal("1000 high-cardinality hosts (385k processes) were accepted over the 200k bound")
	}
	if _, err := New(Config{Profile: p, Hosts: 0, Start: t0}); err == nil {
		t.Fatal("0 hosts accepted")
	}
}

// TestScrapeEachMatchesScrape: batching changes neither content nor order,
// batches respect the size, and an error from the callback stops the scrape.
func TestScrapeEachMatchesScrape(t *testing.T) {
	whole := marshalScrapes(t, simulate(t, ProfileHighCardinality, 2, 8, false), 3)
	sim := simulate(t, ProfileHighCardinality, 2, 8, false)
	var buf bytes.Buffer
	for k := range 3 {
		var all []*metricspb.ResourceMetrics
		n, err := sim.ScrapeEach(t0.Add(time.Duration(k)*10*time.Second), 100, func(b []*metricspb.ResourceMetrics) error {
			if len(b) > 100 || len(b) == 0 {
				t.Fatalf("batch of %d", len(b))
			}
			all = append(all, b...)
			return nil
		})
		if err != nil || n != len(all) {
			t.Fatalf("scrape each: %v, %d reported, %d delivered", err, n, len(all))
		}
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(&colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: all})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(raw)
	}
	if !bytes.Equal(whole, buf.Bytes()) {
		t.Fatal("batched scrapes differ from whole scrapes")
	}
	stop := fmt.Errorf("stop")
	calls := 0
	n, err := simulate(t, ProfileHighCardinality, 2, 8, false).ScrapeEach(t0, 50, func([]*metricspb.ResourceMetrics) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 || n != 50 {
		t.Fatalf("after an error: err %v, %d calls, %d processes; want the error after one batch of 50", err, calls, n)
	}
}
