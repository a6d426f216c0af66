package anomaly

// ring is a fixed-size window of the most recent values. Fields are exported
// for encoding/gob only; the type itself stays private.
type ring struct {
	Buf  []float64
	Next int
	Full bool
}

func newRing(n int) ring { return ring{Buf: make([]float64, n)} }

func (r *ring) push(v float64) {
	r.Buf[r.Next] = v
	r.Next++
	if r.Next == len(r.Buf) {
		r.Next = 0
		r.Full = true
	}
}

func (r *ring) len() int {
	if r.Full {
		return len(r.Buf)
	}
	return r.Next
}

// values returns the window's contents in no particular order (callers only
// take order statistics of it).
func (r *ring) values() []float64 { return r.Buf[:r.len()] }

// selectK returns the k-th smallest element of xs (0-based), reordering xs.
// Quickselect keeps the per-point median O(window) instead of a sort.
func selectK(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		p := xs[(lo+hi)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// median of xs, reordering xs; xs must not be empty.
func median(xs []float64) float64 {
	n := len(xs)
	m := selectK(xs, n/2)
	if n%2 == 1 {
		return m
	}
	// The lower middle is the largest element left of n/2 after selection.
	lower := xs[0]
	for _, x := range xs[:n/2] {
		if x > lower {
			lower = x
		}
	}
	return (lower + m) / 2
}

func clamp01(x float64) float64 {
	switch {
	case x > 1:
		return 1
	case x >= 0:
		return x
	default: // negative or NaN
		return 0
	}
}
