package fold

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
)

// foldAll folds every datapoint of every metric of md into one series per
// metric (all attributes dropped) and returns the result.
func foldAll(t *testing.T, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	f := New()
	rw := &attrs.Rewrite{Keep: attrs.NewSet()}
	for _, rm := range md.ResourceMetrics().All() {
		key := rw.Hash(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				target := f.Target(key, rm.Resource(), rw, sm.Scope(), m)
				n := 0
				switch m.Type() {
				case pmetric.MetricTypeSum:
					n = m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					n = m.Histogram().DataPoints().Len()
				case pmetric.MetricTypeExponentialHistogram:
					n = m.ExponentialHistogram().DataPoints().Len()
				case pmetric.MetricTypeSummary:
					n = m.Summary().DataPoints().Len()
				}
				for i := range n {
					f.AddPoint(target, m, i, rw)
				}
			}
		}
	}
	out := pmetric.NewMetrics()
	f.MoveTo(out.ResourceMetrics())
	return out
}

func TestFoldNumbersKeepTypeAndTimes(t *testing.T) {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("n")
	s := m.SetEmptySum()
	for i, v := range []int64{1, 2, 3} {
		dp := s.DataPoints().AppendEmpty()
		dp.Attributes().PutInt("i", int64(i))
		dp.SetIntValue(v)
		dp.SetStartTimestamp(pcommon.Timestamp(10 - i))
		dp.SetTimestamp(pcommon.Timestamp(20 + i))
	}
	s.DataPoints().AppendEmpty().SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	dp := foldAll(t, md).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	require.Equal(t, 1, dp.Len())
	require.Equal(t, int64(6), dp.At(0).IntValue())
	require.Equal(t, pcommon.Timestamp(8), dp.At(0).StartTimestamp(), "earliest start")
	require.Equal(t, pcommon.Timestamp(22), dp.At(0).Timestamp(), "latest time")
	require.Equal(t, 0, dp.At(0).Attributes().Len())
}

func TestFoldHistogramsBySameBounds(t *testing.T) {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("h")
	h := m.SetEmptyHistogram()
	for _, c := range []struct {
		bounds []float64
		counts []uint64
		min    float64
	}{{[]float64{1, 2}, []uint64{1, 1, 1}, 0.5}, {[]float64{1, 2}, []uint64{2, 0, 4}, 0.1}, {[]float64{5}, []uint64{3, 3}, 4}} {
		dp := h.DataPoints().AppendEmpty()
		dp.ExplicitBounds().FromRaw(c.bounds)
		dp.BucketCounts().FromRaw(c.counts)
		var n uint64
		for _, x := range c.counts {
			n += x
		}
		dp.SetCount(n)
		dp.SetSum(float64(n))
		dp.SetMin(c.min)
	}
	dps := foldAll(t, md).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints()
	require.Equal(t, 2, dps.Len(), "different bucket layouts stay separate")
	require.Equal(t, []uint64{3, 1, 5}, dps.At(0).BucketCounts().AsRaw())
	require.Equal(t, uint64(9), dps.At(0).Count())
	require.Equal(t, 0.1, dps.At(0).Min())
}

func TestFoldExponentialHistogramsAlignOffsets(t *testing.T) {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("e")
	e := m.SetEmptyExponentialHistogram()
	for _, c := range []struct {
		offset int32
		counts []uint64
	}{{2, []uint64{1, 1}}, {0, []uint64{5}}, {3, []uint64{2, 2}}} {
		dp := e.DataPoints().AppendEmpty()
		dp.SetScale(1)
		dp.Positive().SetOffset(c.offset)
		dp.Positive().BucketCounts().FromRaw(c.counts)
	}
	dp := foldAll(t, md).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram().DataPoints().At(0)
	require.Equal(t, int32(0), dp.Positive().Offset())
	require.Equal(t, []uint64{5, 0, 1, 3, 2}, dp.Positive().BucketCounts().AsRaw())
}

func TestFoldSummariesDropQuantiles(t *testing.T) {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("s")
	s := m.SetEmptySummary()
	for i := range 2 {
		dp := s.DataPoints().AppendEmpty()
		dp.SetCount(uint64(i + 1))
		dp.SetSum(10)
		q := dp.QuantileValues().AppendEmpty()
		q.SetQuantile(0.5)
		q.SetValue(1)
	}
	dp := foldAll(t, md).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Summary().DataPoints().At(0)
	require.Equal(t, uint64(3), dp.Count())
	require.Equal(t, 20.0, dp.Sum())
	require.Equal(t, 0, dp.QuantileValues().Len())
}
