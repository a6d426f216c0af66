// Package hll is a HyperLogLog distinct counter over 64-bit hashes, with
// the HyperLogLog++ improvements that matter for 64-bit hashes: no
// large-range correction is needed, and small cardinalities use linear
// counting. Sketches with the same precision merge by register-wise max, so
// rollups from several analytics replicas combine into one count.
package hll

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Sketch counts distinct hashes in 2^p one-byte registers.
type Sketch struct {
	p    uint8
	regs []uint8
}

// MinPrecision and MaxPrecision bound p.
const (
	MinPrecision = 4
	MaxPrecision = 18
)

// New returns an empty sketch with 2^p registers.
func New(p uint8) *Sketch {
	if p < MinPrecision {
		p = MinPrecision
	}
	if p > MaxPrecision {
		p = MaxPrecision
	}
	return &Sketch{p: p, regs: make([]uint8, 1<<p)}
}

// Precision returns p.
func (s *Sketch) Precision() uint8 { return s.p }

// RelativeError is the standard error of Estimate, 1.04/sqrt(2^p).
func (s *Sketch) RelativeError() float64 { return RelativeError(s.p) }

// RelativeError is the standard error of a sketch with precision p.
func RelativeError(p uint8) float64 { return 1.04 / math.Sqrt(float64(uint64(1)<<p)) }

// Add records a (well mixed) 64-bit hash.
func (s *Sketch) Add(h uint64) {
	idx := h >> (64 - s.p)
	w := h<<s.p | 1<<(s.p-1) // guard bit bounds the rank
	r := uint8(bits.LeadingZeros64(w)) + 1
	if r > s.regs[idx] {
		s.regs[idx] = r
	}
}

// Merge folds o into s; both must have the same precision.
func (s *Sketch) Merge(o *Sketch) error {
	if o.p != s.p {
		return fmt.Errorf("merge hll: precision %d into %d", o.p, s.p)
	}
	for i, r := range o.regs {
		if r > s.regs[i] {
			s.regs[i] = r
		}
	}
	return nil
}

// Reset empties the sketch.
func (s *Sketch) Reset() { clear(s.regs) }

// Estimate returns the distinct count estimate.
func (s *Sketch) Estimate() float64 {
	m := float64(len(s.regs))
	var sum float64
	zeros := 0
	for _, r := range s.regs {
		sum += 1 / float64(uint64(1)<<r)
		if r == 0 {
			zeros++
		}
	}
	est := alpha(m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros)) // linear counting
	}
	return est
}

func alpha(m float64) float64 {
	switch m {
	case 16:
		return 0.673
	case 32:
		return 0.697
	case 64:
		return 0.709
	}
	return 0.7213 / (1 + 1.079/m)
}

// MarshalBinary encodes p followed by the registers.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	out := make([]byte, 1+len(s.regs))
	out[0] = s.p
	copy(out[1:], s.regs)
	return out, nil
}

// UnmarshalBinary decodes MarshalBinary's output.
func (s *Sketch) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || b[0] < MinPrecision || b[0] > MaxPrecision {
		return errors.New("decode hll: bad precision")
	}
	p := b[0]
	if len(b) != 1+1<<p {
		return fmt.Errorf("decode hll: want %d registers, got %d", 1<<p, len(b)-1)
	}
	s.p = p
	s.regs = append(s.regs[:0], b[1:]...)
	for _, r := range s.regs {
		if int(r) > 64-int(p)+1 {
			return errors.New("decode hll: register out of range")
		}
	}
	return nil
}
