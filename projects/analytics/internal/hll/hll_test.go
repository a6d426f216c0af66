package hll

import (
	"math"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func hashOf(i int) uint64 {
	var b [8]byte
	for j := range b {
		b[j] = byte(i >> (8 * j))
	}
	return xxhash.Sum64(b[:])
}

func TestEstimateWithinBound(t *testing.T) {
	for _, n := range []int{0, 10, 1000, 50_000, 500_000} {
		s := New(14)
		for i := range n {
			s.Add(hashOf(i))
			s.Add(hashOf(i)) // duplicates do not count
		}
		got := s.Estimate()
		// 4 standard errors: fails by chance with probability < 1e-4.
		if tol := 4 * s.RelativeError() * float64(n); math.Abs(got-float64(n)) > tol+1 {
			t.Errorf("n=%d: estimate %.0f outside ±%.0f", n, got, tol)
		}
	}
}

func TestMergeIsUnion(t *testing.T) {
	a, b := New(12), New(12)
	for i := range 20_000 {
		a.Add(hashOf(i))
	}
	for i := 10_000; i < 30_000; i++ {
		b.Add(hashOf(i))
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if got := a.Estimate(); math.Abs(got-30_000) > 4*a.RelativeError()*30_000 {
		t.Errorf("union estimate %.0f, want 30000", got)
	}
	if err := a.Merge(New(10)); err == nil {
		t.Error("merged sketches of different precision")
	}
	raw, _ := a.MarshalBinary()
	var c Sketch
	if err := c.UnmarshalBinary(raw); err != nil || c.Estimate() != a.Estimate() {
		t.Errorf("round trip: %v", err)
	}
	if err := c.UnmarshalBinary(raw[:10]); err == nil {
		t.Error("accepted a truncated sketch")
	}
}
