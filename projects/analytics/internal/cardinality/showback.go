package cardinality

import (
	"cmp"
	"slices"
)

// ValueShare is what the series carrying one value of a label hold.
type ValueShare struct {
	Value  string
	Series int64
	// DPPerS apportions each metric's datapoint rate equally among the
	// metric's active series (series of one metric are usually reported at
	// one interval); it is an estimate, never a per-series measurement.
	DPPerS float64
}

// Split is a stream's active series split by the values of one label.
type Split struct {
	Label   string
	Values  []ValueShare // every value carried, most series first (ties by value)
	Unset   ValueShare   // series that do not carry the label
	Tracked int64        // series held exactly (the sum of Values and Unset)
	// Overflow is the estimated number of active series past the exact
	// bound, held only in a sketch: their labels are unknown.
	Overflow   float64
	OverflowRE float64
	// DPKnown is false while the stream is younger than one rate interval;
	// DPPerS fields are then zero and mean nothing.
	DPKnown bool
	// Refused counts series or data the tracker refused or sketched, by
	// reason; a non-empty map means the split misses some of the stream.
	Refused map[string]int64
}

// SplitBy splits the snapshot's series by the value of label, looked up in
// a series' resource attributes, then its datapoint attributes. The work is
// one pass over the series; the value map is bounded by the snapshot's
// label sets, which the tracker bounds per stream.
func (sn *Snapshot) SplitBy(label string) Split {
	sp := Split{Label: label, Unset: ValueShare{Value: ""}, Tracked: int64(len(sn.Series)),
		Overflow: sn.Overflow, OverflowRE: sn.OverflowRE, Refused: sn.Refused}
	key := -1
	for i, k := range sn.KeyNames {
		if k == label {
			key = i
			break
		}
	}
	// The label's value per label set, looked up once per set.
	const unset = -1
	setValue := make([]int32, len(sn.sets)) // index into sp.Values, or unset
	valueIdx := map[string]int32{}
	for i, ls := range sn.sets {
		setValue[i] = unset
		if key < 0 {
			continue
		}
		for _, a := range ls.attrs {
			if int(a.key) != key {
				continue
			}
			vi, ok := valueIdx[a.val]
			if !ok {
				vi = int32(len(sp.Values))
				valueIdx[a.val] = vi
				sp.Values = append(sp.Values, ValueShare{Value: a.val})
			}
			setValue[i] = vi
			break
		}
	}
	// Each metric's datapoint rate per active series.
	perSeries := make([]int64, len(sn.Metrics))
	for _, r := range sn.Series {
		perSeries[r.Metric]++
	}
	dpPer := make([]float64, len(sn.Metrics))
	for i := range sn.Metrics {
		v, ok := rate(&sn.Metrics[i].dp, sn.nowSec, sn.created, func(c counts) uint64 { return c.dp })
		if ok && perSeries[i] > 0 {
			dpPer[i] = v / float64(perSeries[i])
		}
	}
	_, sp.DPKnown = rate(&sn.buckets, sn.nowSec, sn.created, func(c counts) uint64 { return c.dp })
	used := make([]bool, len(sp.Values))
	for _, r := range sn.Series {
		vi := setValue[r.Res]
		if vi == unset {
			vi = setValue[r.DP]
		}
		dst := &sp.Unset
		if vi != unset {
			dst = &sp.Values[vi]
			used[vi] = true
		}
		dst.Series++
		dst.DPPerS += dpPer[r.Metric]
	}
	// Values of label sets no active series uses any more are dropped.
	kept := sp.Values[:0]
	for i, v := range sp.Values {
		if used[i] {
			kept = append(kept, v)
		}
	}
	sp.Values = kept
	slices.SortFunc(sp.Values, func(a, b ValueShare) int {
		return cmp.Or(cmp.Compare(b.Series, a.Series), cmp.Compare(a.Value, b.Value))
	})
	return sp
}
