package fidelity

import (
	"time"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// Reporting check. The tracker keeps a series active, with its last value,
// for the staleness window (5 minutes by default) after it was last seen,
// which is right for counting active series but wrong for an aggregate's
// value: a process that exited, or that a top-K candidate rolled into
// `_other_`, would still count with its last value for minutes, in one
// stream and not the other. (Measured on the --dev loop: 68.6 % error on
// `sum(process.cpu.time) by host.name` for a candidate whose folding keeps
// every host's total exact in every export.) The watcher therefore
// evaluates an aggregate over the series still reporting: seen within
// their own reporting interval (the shorter of the last two gaps between
// the times the tracker last saw them, read at the ticks) plus a slack for
// export batching, as Prometheus marks a scraped series stale when a scrape
// misses it. A series whose interval is not known yet (seen at one tick
// only) counts while it reported since the previous tick; and a series of
// a host (host.name) counts only if it was in the host's latest export
// (seen within 3 s of the host's newest series). On a host where
// processes live for seconds (compilers), counting them longer made the
// baseline, where each keeps its own series, run 7.5 % above a top-K
// candidate, where they are folded into `_other_` and leave it at exit.

// reportSlack absorbs batching and the tracker's whole-second clock.
const reportSlack = 3 * time.Second

// maxCadence bounds the series whose interval one watch learns; past it,
// new series are judged by the tick interval alone.
const maxCadence = 200_000

type seriesSeen struct {
	last     time.Time     // when the tracker last saw it, as of the latest tick
	interval time.Duration // the shorter of its last two gaps between sightings; 0 until known
	prevGap  time.Duration
	tick     time.Time // the tick that last saw it in a snapshot
}

// cadence is one watch's reporting state, touched only by Sample.
type cadence map[uint64]*seriesSeen

// freshFunc updates c from the snapshot taken at now (the previous tick
// was at prev; zero for the first) and returns the reporting check, then
// forgets series the snapshot no longer has.
func (c cadence) freshFunc(sn *cardinality.Snapshot, now, prev time.Time) func(cardinality.SeriesRef) bool {
	tick := now.Sub(prev)
	if prev.IsZero() || tick <= 0 {
		tick = 10 * time.Second
	}
	// A host's processes are scraped and exported together: a series of a
	// host (host.name) that missed the host's latest export stopped
	// (an exited process), even within its interval.
	hostAge := map[string]uint32{}
	for _, r := range sn.Series {
		if h, ok := sn.Label(r, "host.name"); ok {
			if a, seen := hostAge[h]; !seen || r.Age < a {
				hostAge[h] = r.Age
			}
		}
	}
	inLatestExport := func(r cardinality.SeriesRef) bool {
		h, ok := sn.Label(r, "host.name")
		return !ok || time.Duration(r.Age-hostAge[h])*time.Second <= reportSlack
	}
	fresh := make(map[cardinality.SeriesRef]bool, len(sn.Series))
	for _, r := range sn.Series {
		id := sn.Sum(r) ^ sn.Metrics[r.Metric].NameHash
		last := now.Add(-time.Duration(r.Age) * time.Second)
		s := c[id]
		if s == nil {
			if len(c) >= maxCadence {
				fresh[r] = now.Sub(last) <= tick+reportSlack && inLatestExport(r) // no memory left
				continue
			}
			s = &seriesSeen{last: last}
			c[id] = s
		} else if d := last.Sub(s.last); d > time.Second {
			s.interval, s.prevGap, s.last = minGap(d, s.prevGap), d, last
		}
		s.tick = now
		limit := tick + reportSlack
		if s.interval > 0 {
			limit = s.interval + reportSlack
		}
		fresh[r] = now.Sub(s.last) <= limit && inLatestExport(r)
	}
	for id, s := range c {
		if !s.tick.Equal(now) {
			delete(c, id)
		}
	}
	return func(r cardinality.SeriesRef) bool { return fresh[r] }
}

// minGap is the shorter of two gaps, ignoring an unknown (zero) one: a
// tick that missed a report (a gap of two intervals) must not make a
// series count for two intervals after it stops.
func minGap(d, prev time.Duration) time.Duration {
	if prev == 0 {
		return d
	}
	return min(d, prev)
}
