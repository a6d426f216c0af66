// Package fold merges the datapoints of many series into fewer series by
// summing them: numbers add, explicit-bucket histograms add bucket by bucket,
// exponential histograms of the same scale add after aligning offsets, and
// summaries add count and sum (quantiles cannot be merged, so a summary built
// from several points carries none). Totals are preserved exactly.
//
// A Folder is reused across batches: Reset starts a new output, MoveTo hands
// the folded ResourceMetrics to the caller. It is not safe for concurrent use.
package fold

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
)

// Folder accumulates folded series for one batch.
type Folder struct {
	out       pmetric.ResourceMetricsSlice
	resources map[uint64]pmetric.ResourceMetrics
	scopes    map[uint64]pmetric.ScopeMetrics
	metrics   map[uint64]*target
	npoints   int
	// nums accumulate number datapoints outside pdata, written back in
	// flush: pdata's setters allocate on every call.
	nums []numAcc
	// memo holds the targets of the last resource key: consecutive
	// resources usually fold into the same one (a batch is one host's
	// scrape), and comparing names beats hashing them.
	memoValid bool
	memoRes   uint64
	memo      []memoEntry
}

type memoEntry struct {
	scopeName, scopeVersion string
	src                     pmetric.Metric
	t                       Metric
}

// same reports whether m folds into the same target as e.src.
func (e *memoEntry) same(scope pcommon.InstrumentationScope, m pmetric.Metric) bool {
	src := e.src
	if m.Name() != src.Name() || m.Type() != src.Type() || m.Unit() != src.Unit() ||
		scope.Name() != e.scopeName || scope.Version() != e.scopeVersion {
		return false
	}
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == src.Sum().AggregationTemporality() &&
			m.Sum().IsMonotonic() == src.Sum().IsMonotonic()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == src.Histogram().AggregationTemporality()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == src.ExponentialHistogram().AggregationTemporality()
	}
	return true
}

// numAcc is a folded number datapoint being accumulated.
type numAcc struct {
	dp        pmetric.NumberDataPoint
	isInt     bool
	i         int64
	f         float64
	start, ts pcommon.Timestamp
}

// New returns an empty Folder.
func New() *Folder {
	f := &Folder{
		resources: map[uint64]pmetric.ResourceMetrics{},
		scopes:    map[uint64]pmetric.ScopeMetrics{},
		metrics:   map[uint64]*target{},
	}
	f.Reset()
	return f
}

// Reset forgets the previous batch; the maps keep their capacity.
func (f *Folder) Reset() {
	f.out = pmetric.NewResourceMetricsSlice()
	clear(f.resources)
	clear(f.scopes)
	clear(f.metrics)
	f.npoints = 0
	f.memoValid = false
	clear(f.memo)
	f.memo = f.memo[:0]
	clear(f.nums)
	f.nums = f.nums[:0]
}

// Len is the number of folded datapoints so far.
func (f *Folder) Len() int { return f.npoints }

// MoveTo appends the folded resources to dst and leaves the Folder empty.
func (f *Folder) MoveTo(dst pmetric.ResourceMetricsSlice) {
	f.flush()
	f.out.MoveAndAppendTo(dst)
	f.Reset()
}

// Metric is a folded metric, the target of AddPoint.
type Metric struct {
	*target
}

// target is a folded metric and its datapoints by attribute hash. A metric
// has few series per batch (hostmetrics: up to 3 states), so a short slice
// scan replaces a map lookup per datapoint; it turns into a map when long.
type target struct {
	key   uint64
	m     pmetric.Metric
	slots []slot
	big   map[uint64]int
}

type slot struct {
	key uint64
	idx int
}

const smallTarget = 16

func (t *target) find(key uint64) (int, bool) {
	if t.big != nil {
		i, ok := t.big[key]
		return i, ok
	}
	for _, s := range t.slots {
		if s.key == key {
			return s.idx, true
		}
	}
	return 0, false
}

func (t *target) add(key uint64, idx int) {
	if t.big == nil && len(t.slots) < smallTarget {
		t.slots = append(t.slots, slot{key, idx})
		return
	}
	if t.big == nil {
		t.big = make(map[uint64]int, 2*smallTarget)
		for _, s := range t.slots {
			t.big[s.key] = s.idx
		}
		t.slots = nil
	}
	t.big[key] = idx
}

// metricKey hashes what makes two metrics mergeable.
func metricKey(m pmetric.Metric) uint64 {
	h := attrs.Combine(attrs.String(m.Name()), attrs.String(m.Unit()))
	h = attrs.Combine(h, uint64(m.Type()))
	switch m.Type() {
	case pmetric.MetricTypeSum:
		h = attrs.Combine(h, uint64(m.Sum().AggregationTemporality()))
		if m.Sum().IsMonotonic() {
			h = attrs.Combine(h, 1)
		}
	case pmetric.MetricTypeHistogram:
		h = attrs.Combine(h, uint64(m.Histogram().AggregationTemporality()))
	case pmetric.MetricTypeExponentialHistogram:
		h = attrs.Combine(h, uint64(m.ExponentialHistogram().AggregationTemporality()))
	}
	return h
}

// Target returns the folded metric for src under the resource identified by
// resKey (the hash of the rewritten resource attributes, which the caller
// computes once per ResourceMetrics) and scope, creating them on first use.
func (f *Folder) Target(resKey uint64, res pcommon.Resource, resRw *attrs.Rewrite, scope pcommon.InstrumentationScope, src pmetric.Metric) Metric {
	if f.memoValid && f.memoRes == resKey {
		for i := range f.memo {
			if f.memo[i].same(scope, src) {
				return f.memo[i].t
			}
		}
	} else {
		f.memoValid, f.memoRes = true, resKey
		clear(f.memo)
		f.memo = f.memo[:0]
	}
	t := f.target(resKey, res, resRw, scope, src)
	// The folded metric itself describes what it folds: same name, unit,
	// type and temporality as src.
	f.memo = append(f.memo, memoEntry{scopeName: scope.Name(), scopeVersion: scope.Version(), src: t.m, t: t})
	return t
}

func (f *Folder) target(resKey uint64, res pcommon.Resource, resRw *attrs.Rewrite, scope pcommon.InstrumentationScope, src pmetric.Metric) Metric {
	scopeKey := attrs.Combine(resKey, attrs.Combine(attrs.String(scope.Name()), attrs.String(scope.Version())))
	key := attrs.Combine(scopeKey, metricKey(src))
	if t, ok := f.metrics[key]; ok {
		return Metric{t}
	}
	rm, ok := f.resources[resKey]
	if !ok {
		rm = f.out.AppendEmpty()
		resRw.Apply(res.Attributes(), rm.Resource().Attributes())
		f.resources[resKey] = rm
	}
	sm, ok := f.scopes[scopeKey]
	if !ok {
		sm = rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scope.Name())
		sm.Scope().SetVersion(scope.Version())
		f.scopes[scopeKey] = sm
	}
	m := sm.Metrics().AppendEmpty()
	m.SetName(src.Name())
	m.SetDescription(src.Description())
	m.SetUnit(src.Unit())
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		m.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		s := m.SetEmptySum()
		s.SetAggregationTemporality(src.Sum().AggregationTemporality())
		s.SetIsMonotonic(src.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		m.SetEmptyHistogram().SetAggregationTemporality(src.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(src.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		m.SetEmptySummary()
	}
	t := &target{key: key, m: m}
	f.metrics[key] = t
	return Metric{t}
}

// AddPoint folds datapoint i of src into the target, under the datapoint
// attributes rw makes of the source's.
func (f *Folder) AddPoint(t Metric, src pmetric.Metric, i int, rw *attrs.Rewrite) {
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		f.FoldNumber(t, src.Gauge().DataPoints().At(i), rw)
	case pmetric.MetricTypeSum:
		f.FoldNumber(t, src.Sum().DataPoints().At(i), rw)
	case pmetric.MetricTypeHistogram:
		f.FoldHistogram(t, src.Histogram().DataPoints().At(i), rw)
	case pmetric.MetricTypeExponentialHistogram:
		f.FoldExponentialHistogram(t, src.ExponentialHistogram().DataPoints().At(i), rw)
	case pmetric.MetricTypeSummary:
		f.FoldSummary(t, src.Summary().DataPoints().At(i), rw)
	}
}

// flush writes the number accumulators into their datapoints.
func (f *Folder) flush() {
	for _, a := range f.nums {
		a.dp.SetStartTimestamp(a.start)
		a.dp.SetTimestamp(a.ts)
		if a.isInt {
			a.dp.SetIntValue(a.i)
		} else {
			a.dp.SetDoubleValue(a.f)
		}
	}
}

func mergeTimes(dst interface {
	StartTimestamp() pcommon.Timestamp
	SetStartTimestamp(pcommon.Timestamp)
	Timestamp() pcommon.Timestamp
	SetTimestamp(pcommon.Timestamp)
}, start, ts pcommon.Timestamp) {
	if start != 0 && (dst.StartTimestamp() == 0 || start < dst.StartTimestamp()) {
		dst.SetStartTimestamp(start)
	}
	if ts > dst.Timestamp() {
		dst.SetTimestamp(ts)
	}
}

// FoldNumber folds a gauge or sum datapoint into t (a gauge or sum).
func (f *Folder) FoldNumber(t Metric, p pmetric.NumberDataPoint, rw *attrs.Rewrite) {
	if p.Flags().NoRecordedValue() {
		return
	}
	f.foldNumber(t, p, rw.Hash(p.Attributes()), rw)
}

// FoldNumberKey is FoldNumber for a caller that knows rw.Hash(p.Attributes())
// already (key); rw only rewrites the attributes of a new folded datapoint.
func (f *Folder) FoldNumberKey(t Metric, p pmetric.NumberDataPoint, key uint64, rw *attrs.Rewrite) {
	if p.Flags().NoRecordedValue() {
		return
	}
	f.foldNumber(t, p, key, rw)
}

// foldNumber folds p, which has a value, under key.
func (f *Folder) foldNumber(t Metric, p pmetric.NumberDataPoint, key uint64, rw *attrs.Rewrite) {
	idx, ok := t.find(key)
	if !ok {
		var dps pmetric.NumberDataPointSlice
		if t.m.Type() == pmetric.MetricTypeSum {
			dps = t.m.Sum().DataPoints()
		} else {
			dps = t.m.Gauge().DataPoints()
		}
		d := dps.AppendEmpty()
		rw.Apply(p.Attributes(), d.Attributes())
		a := numAcc{dp: d, start: p.StartTimestamp(), ts: p.Timestamp()}
		if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
			a.isInt, a.i = true, p.IntValue()
		} else {
			a.f = p.DoubleValue()
		}
		t.add(key, len(f.nums))
		f.npoints++
		f.nums = append(f.nums, a)
		return
	}
	a := &f.nums[idx]
	if s := p.StartTimestamp(); s != 0 && (a.start == 0 || s < a.start) {
		a.start = s
	}
	a.ts = max(a.ts, p.Timestamp())
	switch {
	case a.isInt && p.ValueType() == pmetric.NumberDataPointValueTypeInt:
		a.i += p.IntValue()
	case a.isInt:
		a.isInt, a.f = false, float64(a.i)+p.DoubleValue()
	default:
		a.f += Float(p)
	}
}

// AddNumber adds p's value to d, staying integer while both are.
func AddNumber(d, p pmetric.NumberDataPoint) {
	if d.ValueType() == pmetric.NumberDataPointValueTypeInt && p.ValueType() == pmetric.NumberDataPointValueTypeInt {
		d.SetIntValue(d.IntValue() + p.IntValue())
		return
	}
	d.SetDoubleValue(Float(d) + Float(p))
}

// Float is a number datapoint's value as float64, whatever its type.
func Float(p pmetric.NumberDataPoint) float64 {
	if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(p.IntValue())
	}
	return p.DoubleValue()
}

// boundsKey makes histograms with different bucket layouts distinct series:
// their buckets cannot be added.
func boundsKey(b pcommon.Float64Slice) uint64 {
	h := uint64(b.Len())
	for _, v := range b.All() {
		h = attrs.Combine(h, math.Float64bits(v))
	}
	return h
}

// FoldHistogram folds an explicit-bucket histogram datapoint into t.
func (f *Folder) FoldHistogram(t Metric, p pmetric.HistogramDataPoint, rw *attrs.Rewrite) {
	if p.Flags().NoRecordedValue() {
		return
	}
	key := attrs.Combine(rw.Hash(p.Attributes()), boundsKey(p.ExplicitBounds()))
	dps := t.m.Histogram().DataPoints()
	idx, ok := t.find(key)
	if !ok {
		d := dps.AppendEmpty()
		p.CopyTo(d)
		rw.Apply(p.Attributes(), d.Attributes())
		t.add(key, dps.Len()-1)
		f.npoints++
		return
	}
	d := dps.At(idx)
	mergeTimes(d, p.StartTimestamp(), p.Timestamp())
	MergeHistogram(d, p)
}

// MergeHistogram adds p into d; both must have the same bounds.
func MergeHistogram(d, p pmetric.HistogramDataPoint) {
	d.SetCount(d.Count() + p.Count())
	if p.HasSum() {
		d.SetSum(d.Sum() + p.Sum())
	}
	if p.HasMin() && (!d.HasMin() || p.Min() < d.Min()) {
		d.SetMin(p.Min())
	}
	if p.HasMax() && (!d.HasMax() || p.Max() > d.Max()) {
		d.SetMax(p.Max())
	}
	db, pb := d.BucketCounts(), p.BucketCounts()
	for j := 0; j < pb.Len() && j < db.Len(); j++ {
		db.SetAt(j, db.At(j)+pb.At(j))
	}
	for j := db.Len(); j < pb.Len(); j++ {
		db.Append(pb.At(j))
	}
	d.Exemplars().RemoveIf(func(pmetric.Exemplar) bool { return true })
}

// FoldExponentialHistogram folds an exponential histogram datapoint into t.
func (f *Folder) FoldExponentialHistogram(t Metric, p pmetric.ExponentialHistogramDataPoint, rw *attrs.Rewrite) {
	if p.Flags().NoRecordedValue() {
		return
	}
	key := attrs.Combine(rw.Hash(p.Attributes()), attrs.Combine(uint64(int64(p.Scale())), math.Float64bits(p.ZeroThreshold())))
	dps := t.m.ExponentialHistogram().DataPoints()
	idx, ok := t.find(key)
	if !ok {
		d := dps.AppendEmpty()
		p.CopyTo(d)
		rw.Apply(p.Attributes(), d.Attributes())
		t.add(key, dps.Len()-1)
		f.npoints++
		return
	}
	d := dps.At(idx)
	mergeTimes(d, p.StartTimestamp(), p.Timestamp())
	d.SetCount(d.Count() + p.Count())
	d.SetZeroCount(d.ZeroCount() + p.ZeroCount())
	if p.HasSum() {
		d.SetSum(d.Sum() + p.Sum())
	}
	if p.HasMin() && (!d.HasMin() || p.Min() < d.Min()) {
		d.SetMin(p.Min())
	}
	if p.HasMax() && (!d.HasMax() || p.Max() > d.Max()) {
		d.SetMax(p.Max())
	}
	mergeExpBuckets(d.Positive(), p.Positive())
	mergeExpBuckets(d.Negative(), p.Negative())
	d.Exemplars().RemoveIf(func(pmetric.Exemplar) bool { return true })
}

// mergeExpBuckets adds src into dst at the same scale, widening dst to cover
// both offset ranges.
func mergeExpBuckets(dst, src pmetric.ExponentialHistogramDataPointBuckets) {
	if src.BucketCounts().Len() == 0 {
		return
	}
	if dst.BucketCounts().Len() == 0 {
		src.CopyTo(dst)
		return
	}
	lo := min(dst.Offset(), src.Offset())
	hi := max(dst.Offset()+int32(dst.BucketCounts().Len()), src.Offset()+int32(src.BucketCounts().Len()))
	merged := make([]uint64, hi-lo)
	for j, c := range dst.BucketCounts().All() {
		merged[int32(j)+dst.Offset()-lo] += c
	}
	for j, c := range src.BucketCounts().All() {
		merged[int32(j)+src.Offset()-lo] += c
	}
	dst.SetOffset(lo)
	dst.BucketCounts().FromRaw(merged)
}

// FoldSummary folds a summary datapoint into t.
func (f *Folder) FoldSummary(t Metric, p pmetric.SummaryDataPoint, rw *attrs.Rewrite) {
	if p.Flags().NoRecordedValue() {
		return
	}
	key := rw.Hash(p.Attributes())
	dps := t.m.Summary().DataPoints()
	idx, ok := t.find(key)
	if !ok {
		d := dps.AppendEmpty()
		p.CopyTo(d)
		rw.Apply(p.Attributes(), d.Attributes())
		t.add(key, dps.Len()-1)
		f.npoints++
		return
	}
	d := dps.At(idx)
	mergeTimes(d, p.StartTimestamp(), p.Timestamp())
	d.SetCount(d.Count() + p.Count())
	d.SetSum(d.Sum() + p.Sum())
	// Quantiles of a union are not derivable from the parts' quantiles.
	d.QuantileValues().RemoveIf(func(pmetric.SummaryDataPointValueAtQuantile) bool { return true })
}
