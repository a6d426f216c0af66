package cardinalitylimitprocessor

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/attrs"
	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       string
		want     *Config
		errParts []string
	}{
		{id: "phoenix_cardinality_limit", want: createDefaultConfig().(*Config)},
		{id: "phoenix_cardinality_limit/custom", want: &Config{
			Limit: 500, Action: ActionDrop, NeverDrop: []string{"host.name", "state"}, ResetInterval: 10 * time.Minute, MaxMetrics: 100,
		}},
		{id: "phoenix_cardinality_limit/bad", errParts: []string{"limit:", "action:", "never_drop[0]:", "reset_interval:", "max_metrics:"}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id)
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.errParts == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, cfg)
				return
			}
			require.Error(t, err)
			for _, part := range tt.errParts {
				require.Contains(t, err.Error(), part)
			}
		})
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestLimiter(t testing.TB, mutate func(*Config)) (*limiter, *clock) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	l, err := newLimiter(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	c := &clock{t: hostmetricstest.Epoch}
	l.now = c.now
	return l, c
}

// seriesStats counts, per metric, the distinct non-overflow series (resource
// plus datapoint attributes) and the overflow series.
func seriesStats(md pmetric.Metrics) (normal, overflow map[string]map[uint64]bool) {
	normal, overflow = map[string]map[uint64]bool{}, map[string]map[uint64]bool{}
	for _, rm := range md.ResourceMetrics().All() {
		rh := attrs.Map(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue // other types (and Empty, which passes as it came) hold no number series
				}
				for _, dp := range dps.All() {
					target := normal
					if _, ok := dp.Attributes().Get(OverflowKey); ok {
						target = overflow
					}
					if target[m.Name()] == nil {
						target[m.Name()] = map[uint64]bool{}
					}
					target[m.Name()][attrs.Combine(rh, attrs.Map(dp.Attributes()))] = true
				}
			}
		}
	}
	return normal, overflow
}

func TestLimitNeverExceeded(t *testing.T) {
	tests := []struct {
		name         string
		limit        int
		action       Action
		neverDrop    []string
		hosts, per   int
		wantOverflow int // overflow series per metric
		totalsBy     []string
	}{
		{name: "fold", limit: 20, action: ActionFold, hosts: 1, per: 50, wantOverflow: 1},
		{name: "fold keeps never_drop labels", limit: 30, action: ActionFold, neverDrop: []string{"host.name"}, hosts: 3, per: 40, wantOverflow: 3, totalsBy: []string{"host.name"}},
		{name: "fold keeps host and state", limit: 10, action: ActionFold, neverDrop: []string{"host.name", "state"}, hosts: 2, per: 30, totalsBy: []string{"host.name", "state"}},
		{name: "drop", limit: 25, action: ActionDrop, hosts: 2, per: 50},
		{name: "under the limit", limit: 1000, action: ActionFold, hosts: 2, per: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, func(c *Config) { c.Limit = tt.limit; c.Action = tt.action; c.NeverDrop = tt.neverDrop })
			fleet := hostmetricstest.Fleet(tt.hosts, tt.per)
			var firstAdmitted map[string]map[uint64]bool
			for step := range 5 {
				in := hostmetricstest.Scrape(fleet, hostmetricstest.Epoch.Add(time.Duration(step+1)*10*time.Second))
				wantTotals := hostmetricstest.Totals(in, tt.totalsBy...)
				inPoints := in.DataPointCount()
				out, err := l.process(context.Background(), in)
				require.NoError(t, err)
				normal, overflow := seriesStats(out)
				for name, s := range normal {
					require.LessOrEqual(t, len(s), tt.limit, "metric %s", name)
				}
				if step == 0 {
					firstAdmitted = normal
				} else {
					require.Equal(t, firstAdmitted, normal, "the admitted set is stable")
				}
				switch tt.action {
				case ActionFold:
					require.InDeltaMapValues(t, wantTotals, hostmetricstest.Totals(out, tt.totalsBy...), 1e-6)
					if tt.wantOverflow > 0 {
						for name, s := range overflow {
							require.Len(t, s, tt.wantOverflow, "metric %s", name)
						}
					}
				case ActionDrop:
					require.Empty(t, overflow)
					admitted := 0
					for _, s := range normal {
						admitted += len(s)
					}
					require.Equal(t, admitted, out.DataPointCount())
					require.Less(t, out.DataPointCount(), inPoints)
				}
			}
		})
	}
}

func TestOverflowSeriesShape(t *testing.T) {
	l, _ := newTestLimiter(t, func(c *Config) { c.Limit = 1; c.NeverDrop = []string{"host.name", "state"} })
	out, err := l.process(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 3), hostmetricstest.Epoch.Add(time.Minute)))
	require.NoError(t, err)
	last := out.ResourceMetrics().At(out.ResourceMetrics().Len() - 1)
	require.Equal(t, map[string]any{"host.name": "host-0"}, last.Resource().Attributes().AsRaw())
	for _, m := range last.ScopeMetrics().At(0).Metrics().All() {
		if m.Name() != "process.cpu.time" {
			continue
		}
		for _, dp := range m.Sum().DataPoints().All() {
			raw := dp.Attributes().AsRaw()
			require.Equal(t, true, raw[OverflowKey])
			require.Contains(t, raw, "state")
			require.Len(t, raw, 2)
		}
	}
}

func TestResetIntervalFreesSlots(t *testing.T) {
	l, c := newTestLimiter(t, func(cfg *Config) { cfg.Limit = 3; cfg.ResetInterval = time.Minute })
	first := hostmetricstest.Fleet(1, 1) // 1 process = 3 cpu series
	second := []hostmetricstest.Process{first[0]}
	second[0].PID = 4242
	c.t = hostmetricstest.Epoch.Add(10 * time.Second)
	_, err := l.process(context.Background(), hostmetricstest.Scrape(first, c.t))
	require.NoError(t, err)
	out, err := l.process(context.Background(), hostmetricstest.Scrape(second, c.t))
	require.NoError(t, err)
	_, overflow := seriesStats(out)
	require.NotEmpty(t, overflow["process.cpu.time"], "the cap is full until the reset")
	c.t = c.t.Add(time.Minute)
	out, err = l.process(context.Background(), hostmetricstest.Scrape(second, c.t))
	require.NoError(t, err)
	_, overflow = seriesStats(out)
	require.Empty(t, overflow["process.cpu.time"], "the reset freed the slots")
}

func TestMaxMetricsOverflows(t *testing.T) {
	l, _ := newTestLimiter(t, func(cfg *Config) { cfg.MaxMetrics = 1 })
	in := hostmetricstest.Scrape(hostmetricstest.Fleet(1, 4), hostmetricstest.Epoch.Add(time.Minute))
	want := hostmetricstest.Totals(in)
	out, err := l.process(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, l.metrics, 1)
	require.InDeltaMapValues(t, want, hostmetricstest.Totals(out), 1e-9)
	require.Positive(t, l.refused)
}

func TestFactoryPipeline(t *testing.T) {
	f := NewFactory()
	require.Equal(t, typeStr, f.Type().String())
	sink := new(consumertest.MetricsSink)
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Limit = 10
	proc, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, proc.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 20), hostmetricstest.Epoch)))
	require.NoError(t, proc.Shutdown(context.Background()))
	normal, _ := seriesStats(sink.AllMetrics()[0])
	require.Len(t, normal["process.cpu.time"], 10)
}

// TestMixedResource: a resource with some datapoints over the limit keeps
// the others in place, loses metrics left without datapoints, and keeps a
// metric without data (type Empty) as it came.
func TestMixedResource(t *testing.T) {
	l, _ := newTestLimiter(t, func(c *Config) { c.Limit = 2; c.NeverDrop = []string{"host.name"} })
	in := hostmetricstest.Scrape(hostmetricstest.Fleet(1, 1), hostmetricstest.Epoch.Add(time.Minute))
	ms := in.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	ms.AppendEmpty().SetName("no.data") // type Empty: passes
	ms.AppendEmpty().SetEmptyGauge()    // a gauge without datapoints: removed
	ms.At(ms.Len() - 1).SetName("empty.gauge")
	want := hostmetricstest.Totals(in)
	out, err := l.process(context.Background(), in)
	require.NoError(t, err)
	require.InDeltaMapValues(t, want, hostmetricstest.Totals(out), 1e-9)
	require.Equal(t, 2, out.ResourceMetrics().Len(), "the process and its host's overflow resource")

	names := func(rm pmetric.ResourceMetrics) map[string]int {
		got := map[string]int{}
		for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
			got[m.Name()] = pointCount(m)
		}
		return got
	}
	require.Equal(t, map[string]int{
		"process.cpu.time": 2, "process.memory.usage": 1, "process.disk.io": 2, "no.data": 0,
	}, names(out.ResourceMetrics().At(0)))
	overflow := out.ResourceMetrics().At(1)
	require.Equal(t, map[string]any{"host.name": "host-0"}, overflow.Resource().Attributes().AsRaw())
	require.Equal(t, map[string]int{"process.cpu.time": 1}, names(overflow))
	require.EqualValues(t, 1, l.folded)
	require.EqualValues(t, 5, l.admitted)

	// Under the limit, nothing is removed but the empty gauge.
	l, _ = newTestLimiter(t, nil)
	in = hostmetricstest.Scrape(hostmetricstest.Fleet(1, 1), hostmetricstest.Epoch.Add(time.Minute))
	in.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty().SetEmptyGauge()
	out, err = l.process(context.Background(), in)
	require.NoError(t, err)
	require.Equal(t, 1, out.ResourceMetrics().Len())
	require.Equal(t, map[string]int{"process.cpu.time": 3, "process.memory.usage": 1, "process.disk.io": 2},
		names(out.ResourceMetrics().At(0)))
}

func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	}
	return 0
}

// TestFoldKeepsManyNeverDropValues: more distinct never_drop values than the
// fold-hash memo has entries each fold into their own overflow series.
func TestFoldKeepsManyNeverDropValues(t *testing.T) {
	l, _ := newTestLimiter(t, func(c *Config) { c.Limit = 1; c.NeverDrop = []string{"state"} })
	const n = 300
	for round := range 2 {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "h")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("m")
		dps := m.SetEmptyGauge().DataPoints()
		for i := range n {
			dp := dps.AppendEmpty()
			dp.SetIntValue(int64(i))
			dp.Attributes().PutStr("state", fmt.Sprintf("s-%d", i))
			dp.Attributes().PutStr("pid", fmt.Sprintf("p-%d", i))
		}
		out, err := l.process(context.Background(), md)
		require.NoError(t, err)
		got := map[string]int64{}
		for _, rm := range out.ResourceMetrics().All() {
			for _, dp := range rm.ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().All() {
				s, _ := dp.Attributes().Get("state")
				got[s.Str()] += dp.IntValue()
			}
		}
		require.Len(t, got, n, "round %d", round)
		for i := range n {
			require.Equal(t, int64(i), got[fmt.Sprintf("s-%d", i)], "round %d state s-%d", round, i)
		}
	}
}

// TestFoldsEveryPointType: histograms, exponential histograms and summaries
// over the limit fold into one overflow point whose count and sum are the
// folded points'; the admitted point stays where it was.
func TestFoldsEveryPointType(t *testing.T) {
	type point interface {
		Attributes() pcommon.Map
		Count() uint64
		Sum() float64
	}
	tests := []struct {
		name   string
		add    func(m pmetric.Metric, i int) // appends point i: count i+1, sum 10*(i+1)
		points func(m pmetric.Metric) []point
	}{
		{"histogram", func(m pmetric.Metric, i int) {
			dp := m.Histogram().DataPoints().AppendEmpty()
			dp.ExplicitBounds().FromRaw([]float64{1})
			dp.BucketCounts().FromRaw([]uint64{uint64(i + 1), 0})
			dp.SetCount(uint64(i + 1))
			dp.SetSum(float64(10 * (i + 1)))
			dp.Attributes().PutInt("pid", int64(i))
		}, func(m pmetric.Metric) (out []point) {
			for _, dp := range m.Histogram().DataPoints().All() {
				out = append(out, dp)
			}
			return out
		}},
		{"exponential histogram", func(m pmetric.Metric, i int) {
			dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
			dp.SetScale(1)
			dp.Positive().BucketCounts().FromRaw([]uint64{uint64(i + 1)})
			dp.SetCount(uint64(i + 1))
			dp.SetSum(float64(10 * (i + 1)))
			dp.Attributes().PutInt("pid", int64(i))
		}, func(m pmetric.Metric) (out []point) {
			for _, dp := range m.ExponentialHistogram().DataPoints().All() {
				out = append(out, dp)
			}
			return out
		}},
		{"summary", func(m pmetric.Metric, i int) {
			dp := m.Summary().DataPoints().AppendEmpty()
			dp.SetCount(uint64(i + 1))
			dp.SetSum(float64(10 * (i + 1)))
			dp.Attributes().PutInt("pid", int64(i))
		}, func(m pmetric.Metric) (out []point) {
			for _, dp := range m.Summary().DataPoints().All() {
				out = append(out, dp)
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, func(c *Config) { c.Limit = 1; c.NeverDrop = []string{"host.name"} })
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("host.name", "h")
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("latency")
			switch tt.name {
			case "histogram":
				m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			case "exponential histogram":
				m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			default:
				m.SetEmptySummary()
			}
			for i := range 3 {
				tt.add(m, i)
			}
			out, err := l.process(context.Background(), md)
			require.NoError(t, err)
			var admitted, overflow []point
			for _, rm := range out.ResourceMetrics().All() {
				for _, p := range tt.points(rm.ScopeMetrics().At(0).Metrics().At(0)) {
					if _, ok := p.Attributes().Get(OverflowKey); ok {
						overflow = append(overflow, p)
					} else {
						admitted = append(admitted, p)
					}
				}
			}
			require.Len(t, admitted, 1)
			require.EqualValues(t, 1, admitted[0].Count())
			require.Len(t, overflow, 1)
			require.EqualValues(t, 2+3, overflow[0].Count())
			require.InDelta(t, 20+30, overflow[0].Sum(), 1e-9)
			require.EqualValues(t, 2, l.folded)
		})
	}
}
