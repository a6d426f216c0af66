package anomaly

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// FuzzObserve feeds arbitrary values and timestamps (NaN, ±Inf, constants,
// huge jumps, time going backwards) and checks that nothing panics, every
// score stays in [0,1], and the state still round-trips.
func FuzzObserve(f *testing.F) {
	enc := func(vals []float64, deltas []int64) []byte {
		var b []byte
		for i, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			b = binary.LittleEndian.AppendUint64(b, uint64(deltas[i%len(deltas)]))
		}
		return b
	}
	f.Add(enc([]float64{1, 2, 3}, []int64{60}), uint8(0))
	f.Add(enc([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 0}, []int64{60}), uint8(3))
	f.Add(enc([]float64{5, 5, 5, 5, 5, 5}, []int64{0}), uint8(40))
	f.Add(enc([]float64{1e308, -1e308, 1e308, -1e308, math.MaxFloat64, -math.SmallestNonzeroFloat64}, []int64{60, -3600}), uint8(9))
	f.Add(enc([]float64{0, 1e-300, -1e-300, 1e300}, []int64{-1 << 62, 1 << 62}), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, repeat uint8) {
		e, err := New(Settings{Window: 32, LearnPoints: 64})
		if err != nil {
			t.Fatal(err)
		}
		ts := t0
		// repeat stretches short inputs so that learning, the forest's
		// rebuilds and the refractory period all happen.
		for r := 0; r <= int(repeat); r++ {
			for b := data; len(b) >= 16; b = b[16:] {
				v := math.Float64frombits(binary.LittleEndian.Uint64(b))
				ts = ts.Add(time.Duration(int64(binary.LittleEndian.Uint64(b[8:]))))
				res := e.Observe(ts, v)
				for _, s := range []float64{res.Score, res.Components.RobustZ, res.Components.Seasonal, res.Components.CUSUM, res.Components.Forest} {
					if !(s >= 0 && s <= 1) {
						t.Fatalf("score %v outside [0,1] after value %v (%+v)", s, v, res)
					}
				}
			}
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d Ensemble
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("own state refused: %v", err)
		}
	})
}

// FuzzUnmarshal: a stored state that decodes is safe to use; one that is not
// is refused, never a panic on the next point.
func FuzzUnmarshal(f *testing.F) {
	for _, n := range []int{0, 50, 700} {
		e, _ := New(Settings{})
		for i := range n {
			e.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%13))
		}
		b, _ := e.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Ensemble
		if err := e.UnmarshalBinary(data); err != nil {
			return
		}
		for i := range 300 {
			r := e.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%7))
			if !(r.Score >= 0 && r.Score <= 1) {
				t.Fatalf("score %v", r.Score)
			}
		}
	})
}
