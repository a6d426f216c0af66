package cardinality

import (
	"math/rand/v2"
	"testing"
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
