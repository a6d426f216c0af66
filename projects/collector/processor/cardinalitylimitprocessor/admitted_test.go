package cardinalitylimitprocessor

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
)

// checkAgainstMap runs ops on an admittedSet and a plain map side by side:
// each op looks a key up and, when absent and there is room, adds it.
func checkAgainstMap(t *testing.T, keys []uint64, limit int) {
	t.Helper()
	s := newAdmittedSet()
	ref := map[uint64]bool{}
	for i, k := range keys {
		got, want := s.has(k), ref[k]
		if got != want {
			t.Fatalf("op %d: has(%#x) = %v, want %v", i, k, got, want)
		}
		if !want && len(ref) < limit {
			s.add(k)
			ref[k] = true
		}
		if s.len() != len(ref) {
			t.Fatalf("op %d: len %d, want %d", i, s.len(), len(ref))
		}
	}
	for k := range ref {
		if !s.mayHave(k) {
			t.Fatalf("Bloom filter lost admitted key %#x", k)
		}
	}
}

func sequence(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

func TestAdmittedSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	series := make([]uint64, 5000)
	for i := range series {
		series[i] = rng.Uint64()
	}
	repeat := func(order []uint64, n int) []uint64 {
		var out []uint64
		for range n {
			out = append(out, order...)
		}
		return out
	}
	shuffled := repeat(series, 1)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	tests := []struct {
		name  string
		keys  []uint64
		limit int
	}{
		{"same order every batch, under the limit", repeat(series, 3), 10_000},
		{"same order, over the limit", repeat(series, 3), 700},
		{"order changes between batches", append(repeat(series, 2), shuffled...), 10_000},
		{"order changes, over the limit", append(repeat(series, 2), shuffled...), 3000},
		{"one key", []uint64{7, 7, 7}, 1},
		{"keys equal in both halves", []uint64{0, 1 << 32, 1, 1<<32 | 1, 0}, 3},
		// Keys under 2^16 share one home slot: one long probe run that
		// wraps around the end of the index and survives its doublings.
		{"keys sharing a home", repeat(sequence(300), 2), 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkAgainstMap(t, tt.keys, tt.limit) })
	}
}

// TestAdmittedSetFilter: the Bloom filter grows with the set and still
// answers most absent keys by itself.
func TestAdmittedSetFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := newAdmittedSet()
	for range 100_000 {
		s.add(rng.Uint64())
	}
	if got := len(s.bits) * 64; got < s.len()*bloomBitsPerKey {
		t.Fatalf("filter of %d bits for %d keys", got, s.len())
	}
	if len(s.slots) < 2*s.len() {
		t.Fatalf("index of %d slots for %d keys: over half full", len(s.slots), s.len())
	}
	pass := 0
	const probes = 100_000
	for range probes {
		if s.mayHave(rng.Uint64()) {
			pass++
		}
	}
	// 16 bits per key and two probes: about 1.4 % false positives when full,
	// fewer right after a doubling.
	if rate := float64(pass) / probes; rate > 0.03 {
		t.Fatalf("false positive rate %.3f", rate)
	}
}

func FuzzAdmittedSet(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		var keys []uint64
		for len(data) >= 2 {
			// Few distinct keys, so lookups repeat; spread over both halves.
			v := uint64(binary.LittleEndian.Uint16(data))
			keys = append(keys, v*0x9e3779b97f4a7c15)
			data = data[2:]
		}
		checkAgainstMap(t, keys, int(limit)+1)
	})
}

// BenchmarkAdmittedSetMemory reports the heap bytes per admitted series of a
// set of 1M series (the hash in arrival order, the map, the Bloom filter).
func BenchmarkAdmittedSetMemory(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(5, 6))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	var perSeries float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := newAdmittedSet()
		for _, k := range keys {
			s.add(k)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perSeries, "B/series")
}
