package cardinality

import (
	"math/rand/v2"
	"testing"

	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestTableMatchesMap drives the table and a map with the same random
// inserts and sweeps (with many colliding homes) and compares them.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab table
	ref := map[uint64]uint32{}
	for round := range 50 {
		for range 3000 {
			// Small key space with shared low bits forces long clusters.
			h := fixHash(uint64(rng.IntN(20000)) << 3)
			if _, ok := ref[h]; ok {
				if tab.find(h) < 0 {
					t.Fatalf("round %d: %x missing", round, h)
				}
				continue
			}
			ref[h] = uint32(round)
			tab.insert(series{hash: h, last: uint32(round)})
		}
		cut := uint32(rng.IntN(round + 1))
		tab.sweep(func(s series) bool { return s.last < cut })
		for h, r := range ref {
			if r < cut {
				delete(ref, h)
			}
		}
		if tab.n != len(ref) {
			t.Fatalf("round %d: table %d, map %d", round, tab.n, len(ref))
		}
		for h := range ref {
			if tab.find(h) < 0 {
				t.Fatalf("round %d: %x lost after sweep", round, h)
			}
		}
		live := 0
		for _, s := range tab.hot {
			if s.hash != emptyHash {
				live++
				if _, ok := ref[s.hash]; !ok {
					t.Fatalf("round %d: stale %x kept", round, s.hash)
				}
			}
		}
		if live != tab.n {
			t.Fatalf("round %d: %d occupied slots, n %d", round, live, tab.n)
		}
	}
}

// TestTableKeepsArrivalOrder checks that compaction (after sweeps, and when
// full arrays are a quarter holes) keeps the live series in the order they
// arrived: that order is what Batch.finish predicts from.
func TestTableKeepsArrivalOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var tab table
	next := uint64(1)
	for round := range 40 {
		for range 500 + rng.IntN(3000) {
			tab.insert(series{hash: fixHash(next * 0x9e3779b97f4a7c15), metric: uint32(next), last: uint32(round)})
			next++
		}
		cut := uint32(rng.IntN(round + 1))
		tab.sweep(func(s series) bool { return s.last < cut && s.metric%3 != 0 })
		prev := uint32(0)
		for p := range tab.hot {
			if tab.hot[p].hash == emptyHash {
				continue
			}
			if m := tab.cold[p].metric; m <= prev {
				t.Fatalf("round %d: position %d holds series %d after %d", round, p, m, prev)
			} else {
				prev = m
			}
			if tab.find(tab.hot[p].hash) != p {
				t.Fatalf("round %d: index does not point at position %d", round, p)
			}
		}
	}
}

// TestFinishBothPaths ingests the same series in their first order (every
// lookup predicted) and in shuffled orders (lookups through the warmed-up
// index) and checks that no series is counted twice or lost either way.
func TestFinishBothPaths(t *testing.T) {
	const n = 5000
	rng := rand.New(rand.NewPCG(7, 8))
	build := func(perm []int) [][]byte {
		var bodies [][]byte
		for first := 0; first < n; first += 500 {
			var rms []*metrics.ResourceMetrics
			for _, p := range perm[first : first+500] {
				rms = append(rms, otlptest.RM(otlptest.ProcessResource("h", "nginx", p),
					otlptest.Gauge("process.memory.usage", float64(p), nil),
					otlptest.Gauge("process.threads", float64(p), nil)))
			}
			bodies = append(bodies, otlptest.Marshal(otlptest.Request(rms...)))
		}
		return bodies
	}
	identity := make([]int, n)
	for i := range identity {
		identity[i] = i
	}
	tr := New(Limits{ExactSeriesPerStream: 100_000, MaxSeriesTotal: 100_000}, nil)
	s := func() *Stream { return tr.Stream("default") }
	for cycle := range 3 {
		for _, body := range build(identity) {
			ingest(tr, body)
		}
		if cycle == 0 { // new series miss the prediction; count from here
			s().seqTries, s().seqMisses = 0, 0
		}
	}
	if got := tr.TotalSeries(); got != 2*n {
		t.Fatalf("in order: %d series, want %d", got, 2*n)
	}
	if st := s(); st.seqMisses*20 > st.seqTries {
		t.Fatalf("in order: %d of %d lookups missed the prediction", st.seqMisses, st.seqTries)
	}
	warmed := s().warmups
	for range 6 {
		for _, body := range build(rng.Perm(n)) {
			ingest(tr, body)
		}
	}
	if got := tr.TotalSeries(); got != 2*n {
		t.Fatalf("shuffled: %d series, want %d", got, 2*n)
	}
	if st := s(); st.seqMisses*4 <= st.seqTries || st.warmups == warmed {
		t.Fatalf("shuffled: %d of %d lookups missed, %d windows warmed: the warm-up path was not taken",
			st.seqMisses, st.seqTries, st.warmups)
	}
	if got := s().tab.n; got != 2*n {
		t.Fatalf("table holds %d series, want %d", got, 2*n)
	}
}

// TestTableTagCollision checks that find and guess handle index entries
// whose tags (the hash's top 32 bits) and home slots are the same.
func TestTableTagCollision(t *testing.T) {
	var tab table
	a, b := uint64(0xdeadbeef_00000010), uint64(0xdeadbeef_00100010)
	tab.insert(series{hash: a, metric: 1})
	tab.insert(series{hash: b, metric: 2})
	if p := tab.find(b); p != 1 || tab.cold[p].metric != 2 {
		t.Fatalf("find(b) = %d", p)
	}
	if p := tab.guess(b); p != 0 {
		t.Fatalf("guess(b) = %d: want the first tag match, 0 (the caller confirms it)", p)
	}
	tab.sweep(func(s series) bool { return s.metric == 1 })
	if p := tab.find(b); p < 0 || tab.cold[p].metric != 2 {
		t.Fatalf("after removing a: find(b) = %d", p)
	}
	if tab.find(a) >= 0 {
		t.Fatal("a found after its removal")
	}
}

// FuzzTable drives the table and a map with the operations the input
// spells, two bytes each: a key (small, so homes and tags collide), and an
// operation: insert or touch the key (its last second becomes the step), or
// sweep what was last touched before a cut-off. After each operation every
// key the map holds must be found at a position holding it, and none other.
func FuzzTable(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 3, 0, 1, 1, 200, 2})
	f.Add([]byte{7, 0, 7, 0, 9, 2, 7, 0, 255, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var tab table
		ref := map[uint64]uint32{}
		for step := 0; step+1 < len(ops) && step < 4000; step += 2 {
			key, op := ops[step], ops[step+1]
			// Keys share low bits (homes) in pairs and high bits (tags) in fours.
			h := fixHash(uint64(key&3)<<32 | uint64(key>>2)<<5 | uint64(key&1))
			now := uint32(step)
			switch op % 4 {
			case 0, 1:
				if p := tab.find(h); p >= 0 {
					tab.hot[p].last = now
				} else {
					tab.insert(series{hash: h, last: now})
				}
				ref[h] = now
			case 2, 3:
				cut := now - min(now, uint32(op)*4)
				tab.sweep(func(s series) bool { return s.last < cut })
				for k, last := range ref {
					if last < cut {
						delete(ref, k)
					}
				}
			}
			if tab.n != len(ref) {
				t.Fatalf("step %d: table holds %d, map %d", step, tab.n, len(ref))
			}
			for k := range ref {
				if p := tab.find(k); p < 0 || tab.hot[p].hash != k {
					t.Fatalf("step %d: %x not found", step, k)
				}
			}
		}
	})
}

// TestTableShrinks checks that a table emptied by sweeps gives its memory
// back: index and arrays sized for what is left, not for the peak.
func TestTableShrinks(t *testing.T) {
	var tab table
	for i := range 100_000 {
		tab.insert(series{hash: fixHash(uint64(i+1) * 0x9e3779b97f4a7c15), last: uint32(i % 100)})
	}
	tab.sweep(func(s series) bool { return s.last != 0 }) // keeps 1,000
	if tab.n != 1000 {
		t.Fatalf("%d series left, want 1000", tab.n)
	}
	if len(tab.idx) > 8*1000 || cap(tab.hot) > 2*1000+minTableSize || len(tab.hot) != 1000 {
		t.Fatalf("after the sweep: index %d slots, arrays %d long with capacity %d", len(tab.idx), len(tab.hot), cap(tab.hot))
	}
	for p := range tab.hot {
		if tab.find(tab.hot[p].hash) != p {
			t.Fatalf("position %d not indexed", p)
		}
	}
}
