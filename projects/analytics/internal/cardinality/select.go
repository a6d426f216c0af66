package cardinality

import (
	"slices"
)

// SnapshotMetrics is a Snapshot restricted to the active series of the
// named metrics: the fidelity watcher evaluates a few aggregates on every
// rollup tick and needs neither the other series nor every label set. It
// copies only the label sets those series use (renumbered), so its cost
// follows the selected series, not the stream. Metrics, KeyNames and
// Overflow are as in Snapshot; rates and the breakdown are not filled in.
func (s *Stream) SnapshotMetrics(names []string) *Snapshot {
	now, nowSec, cutoff := s.liveCutoff()
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Snapshot{
		Stream: s.name, Team: s.team, Time: now, Created: s.created, LastSeen: s.lastSeen,
		Staleness: s.t.limits.Staleness, KeyNames: slices.Clone(s.keyNames),
		nowSec: nowSec, created: s.t.sec(s.created), Refused: map[string]int64{},
	}
	sn.Metrics = make([]MetricInfo, len(s.metrics))
	want := make(map[uint32]bool, len(names))
	for i, m := range s.metrics {
		sn.Metrics[i] = MetricInfo{Name: m.name, Type: m.typ, NameHash: m.nameHash}
		if slices.Contains(names, m.name) {
			want[uint32(i)] = true
		}
	}
	sn.Overflow, sn.OverflowRE = s.overflowEstimate(nowSec)
	if len(want) == 0 {
		return sn
	}
	// Label sets are immutable once interned (a freed id gets a new
	// labelSet value), so the copies share their attrs.
	ids := map[uint32]uint32{}
	setID := func(id uint32) uint32 {
		if n, ok := ids[id]; ok {
			return n
		}
		n := uint32(len(sn.sets))
		sn.sets = append(sn.sets, s.sets[id])
		ids[id] = n
		return n
	}
	for i := range s.tab.hot {
		if h := &s.tab.hot[i]; h.hash == emptyHash || h.last < cutoff {
			continue
		}
		sr := s.tab.at(i)
		if !want[sr.metric] {
			continue
		}
		sn.Series = append(sn.Series, SeriesRef{Metric: sr.metric, Res: setID(sr.res), DP: setID(sr.dp), Age: nowSec - min(nowSec, sr.last), Value: sr.value})
	}
	return sn
}
