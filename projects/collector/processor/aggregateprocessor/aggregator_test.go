package aggregateprocessor

import (
	"context"
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

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// perProcess are the resource attributes that make a series per process.
var perProcess = []string{"process.pid", "process.executable.name", "process.command_line", "process.owner"}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       string
		want     *Config
		errParts []string
	}{
		{id: "phoenix_aggregate", want: createDefaultConfig().(*Config)},
		{id: "phoenix_aggregate/custom", want: &Config{
			Interval: 30 * time.Second, RemoveLabels: []string{"process.pid", "process.command_line"}, GaugeFunc: GaugeMax, MaxSeries: 5000,
		}},
		{id: "phoenix_aggregate/bad", errParts: []string{"interval:", "remove_labels[0]:", "gauge_func:", "max_series:"}},
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

func newTestAggregator(t testing.TB, mutate func(*Config), next *consumertest.MetricsSink) *aggregator {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.RemoveLabels = perProcess
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	if next == nil {
		next = new(consumertest.MetricsSink)
	}
	p, err := newAggregator(cfg, componenttest.NewNopTelemetrySettings(), next)
	require.NoError(t, err)
	return p
}

// value finds the datapoint of metric name whose attribute key has value val.
func value(t *testing.T, md pmetric.Metrics, name, key, val string) (float64, pmetric.NumberDataPoint) {
	t.Helper()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != name {
					continue
				}
				var dps pmetric.NumberDataPointSlice
				if m.Type() == pmetric.MetricTypeSum {
					dps = m.Sum().DataPoints()
				} else {
					dps = m.Gauge().DataPoints()
				}
				for _, dp := range dps.All() {
					if v, ok := dp.Attributes().Get(key); key == "" || (ok && v.AsString() == val) {
						return num(dp), dp
					}
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%s} in output", name, key, val)
	return 0, pmetric.NumberDataPoint{}
}

func num(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func at(sec int) time.Time { return hostmetricstest.Epoch.Add(time.Duration(sec) * time.Second) }

func TestCounterSumAcrossResetsAndChurn(t *testing.T) {
	type obs struct {
		exe   string
		start int // seconds after Epoch the process (re)started
		user  float64
	}
	steps := []struct {
		sec       int
		inputs    []obs
		flush     bool
		wantTotal float64 // sum of the inputs' increases since the output started
	}{
		{sec: 10, inputs: []obs{{"a", 0, 10}, {"b", 0, 20}}},
		{sec: 15, flush: true, wantTotal: 30},
		{sec: 20, inputs: []obs{{"a", 0, 15}, {"b", 0, 25}}},
		// a restarts: its counter falls to 3 since its new start (+3, not -12).
		{sec: 30, inputs: []obs{{"a", 25, 3}, {"b", 0, 30}}},
		{sec: 31, flush: true, wantTotal: 30 + 10 + 3 + 5},
		// b stops; c starts after the output did: all of its 7 is increase.
		{sec: 40, inputs: []obs{{"a", 25, 5}, {"c", 35, 7}}},
		// a counter that falls without a new start time is a reset too.
		{sec: 50, inputs: []obs{{"a", 25, 1}, {"c", 35, 9}}},
		{sec: 60, flush: true, wantTotal: 48 + 2 + 7 + 1 + 2},
		// A flush without input keeps the cumulative total.
		{sec: 70, flush: true, wantTotal: 60},
	}
	p := newTestAggregator(t, nil, nil)
	pids := map[string]int64{"a": 1, "b": 2, "c": 3}
	var outStart pcommon.Timestamp
	for _, st := range steps {
		p.now = func() time.Time { return at(st.sec) }
		if st.flush {
			out := p.flush(at(st.sec))
			got, dp := value(t, out, "process.cpu.time", "state", "user")
			require.InDelta(t, st.wantTotal, got, 1e-9, "t=%d", st.sec)
			if outStart == 0 {
				outStart = dp.StartTimestamp()
			}
			require.Equal(t, outStart, dp.StartTimestamp(), "the output's start never moves")
			require.Equal(t, map[string]any{"host.name": "h"}, out.ResourceMetrics().At(0).Resource().Attributes().AsRaw())
			continue
		}
		md := pmetric.NewMetrics()
		for _, o := range st.inputs {
			proc := hostmetricstest.Process{Host: "h", Exe: o.exe, PID: pids[o.exe], Start: at(o.start), Owner: "root"}
			hostmetricstest.AppendProcess(md.ResourceMetrics(), proc, at(st.sec), o.user, 0)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	require.Equal(t, pcommon.NewTimestampFromTime(at(0)), outStart)
}

func TestSeriesPredatingOutputAddNoPast(t *testing.T) {
	p := newTestAggregator(t, nil, nil)
	send := func(sec int, procs ...hostmetricstest.Process) {
		md := pmetric.NewMetrics()
		for _, proc := range procs {
			hostmetricstest.AppendProcess(md.ResourceMetrics(), proc, at(sec), proc.CPUUser(at(sec)), 0)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	a := hostmetricstest.Process{Host: "h", Exe: "a", PID: 1, CPURate: 1, Start: at(100)}
	old := hostmetricstest.Process{Host: "h", Exe: "old", PID: 2, CPURate: 1, Start: at(0)}
	send(110, a)
	p.flush(at(115))
	// old started before the output (t=100) but shows up only now: its 114 s
	// of history are not increases of this output; its growth from now on is.
	send(120, a, old)
	send(130, a, old)
	out := p.flush(at(131))
	got, _ := value(t, out, "process.cpu.time", "state", "user")
	require.InDelta(t, 0.7*30+0.7*10, got, 1e-9)
}

func TestGaugeFuncs(t *testing.T) {
	tests := []struct {
		fn   GaugeFunc
		want float64
	}{
		{GaugeSum, 6 << 20}, {GaugeAvg, 2 << 20}, {GaugeMin, 1 << 20}, {GaugeMax, 3 << 20},
	}
	for _, tt := range tests {
		t.Run(string(tt.fn), func(t *testing.T) {
			p := newTestAggregator(t, func(c *Config) { c.GaugeFunc = tt.fn }, nil)
			fleet := hostmetricstest.Fleet(1, 3) // memory 1, 2, 3 MiB
			// Two batches in one interval: only the latest value per series counts.
			require.NoError(t, p.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(fleet, at(10))))
			require.NoError(t, p.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(fleet, at(20))))
			got, _ := value(t, p.flush(at(30)), "process.memory.usage", "", "")
			require.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestGaugesOfDeadSeriesAreNotRepeated(t *testing.T) {
	p := newTestAggregator(t, nil, nil)
	require.NoError(t, p.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 3), at(10))))
	p.flush(at(20))
	require.NoError(t, p.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 1), at(30))))
	got, _ := value(t, p.flush(at(40)), "process.memory.usage", "", "")
	require.InDelta(t, 1<<20, got, 1e-9)
}

func TestDeltaSumsAddPerInterval(t *testing.T) {
	p := newTestAggregator(t, func(c *Config) { c.RemoveLabels = []string{"pid"} }, nil)
	send := func(sec int, vals ...int64) {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("requests")
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		s.SetIsMonotonic(true)
		for i, v := range vals {
			dp := s.DataPoints().AppendEmpty()
			dp.Attributes().PutInt("pid", int64(i))
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(at(sec - 10)))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(at(sec)))
			dp.SetIntValue(v)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	p.now = func() time.Time { return at(10) }
	send(10, 1, 2, 3)
	send(20, 4, 5)
	out := p.flush(at(25))
	got, dp := value(t, out, "requests", "", "")
	require.Equal(t, 15.0, got)
	require.Equal(t, pmetric.NumberDataPointValueTypeInt, dp.ValueType())
	require.Equal(t, pcommon.NewTimestampFromTime(at(10)), dp.StartTimestamp(), "a delta covers its interval")
	require.Equal(t, pcommon.NewTimestampFromTime(at(25)), dp.Timestamp())
	send(30, 1)
	got, _ = value(t, p.flush(at(35)), "requests", "", "")
	require.Equal(t, 1.0, got)
	require.Equal(t, 0, p.flush(at(45)).DataPointCount(), "no delta without input")
}

func TestHistogramsMergeBuckets(t *testing.T) {
	p := newTestAggregator(t, func(c *Config) { c.RemoveLabels = []string{"pid"} }, nil)
	send := func(sec int, series map[int64][]uint64) {
		require.NoError(t, p.ConsumeMetrics(context.Background(), latencyHistograms(sec, series)))
	}
	send(10, map[int64][]uint64{0: {1, 2, 3}, 1: {4, 5, 6}})
	send(20, map[int64][]uint64{0: {2, 2, 3}, 1: {1, 0, 0}}) // series 1 reset
	out := p.flush(at(30))
	dp := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0)
	require.Equal(t, []uint64{1 + 4 + 1 + 1, 2 + 5, 3 + 6}, dp.BucketCounts().AsRaw())
	require.Equal(t, uint64(23), dp.Count())
}

// latencyHistograms builds one scrape of cumulative histograms "latency"
// (bounds 1 and 10, started at 0), one series per pid with the given bucket
// counts; count and sum are the counts' total.
func latencyHistograms(sec int, series map[int64][]uint64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for pid, c := range series {
		dp := h.DataPoints().AppendEmpty()
		dp.Attributes().PutInt("pid", pid)
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(at(0)))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at(sec)))
		dp.ExplicitBounds().FromRaw([]float64{1, 10})
		dp.BucketCounts().FromRaw(c)
		var n uint64
		for _, x := range c {
			n += x
		}
		dp.SetCount(n)
		dp.SetSum(float64(n))
	}
	return md
}

func TestPassThroughSummaries(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	p := newTestAggregator(t, nil, sink)
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("rpc.duration")
	m.SetEmptySummary().DataPoints().AppendEmpty().SetCount(3)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.Equal(t, 1, sink.DataPointCount())
}

func TestMaxSeriesRefuses(t *testing.T) {
	p := newTestAggregator(t, func(c *Config) { c.MaxSeries = 4 }, nil)
	require.NoError(t, p.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 10), at(10))))
	require.Equal(t, 4, p.nInputs)
}

func TestLifecycleEmitsOnIntervalAndShutdown(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Interval = 20 * time.Millisecond
	cfg.RemoveLabels = perProcess
	proc, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, proc.ConsumeMetrics(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(2, 10), time.Now())))
	require.Eventually(t, func() bool { return sink.DataPointCount() > 0 }, 10*time.Second, 5*time.Millisecond)
	// 2 hosts x (3 cpu states + 1 memory + 2 disk directions).
	require.Equal(t, 12, sink.AllMetrics()[0].DataPointCount())
	require.NoError(t, proc.Shutdown(context.Background()))
	require.NoError(t, proc.Shutdown(context.Background()), "Shutdown is idempotent")
}

func TestShutdownWithoutStart(t *testing.T) {
	p := newTestAggregator(t, nil, nil)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestManySeriesInOneResource(t *testing.T) {
	// A Prometheus-style target: one resource, many series, beyond the
	// per-resource slice into the map.
	p := newTestAggregator(t, func(c *Config) { c.RemoveLabels = []string{"path"} }, nil)
	send := func(sec int, add float64) {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "api")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("http.requests")
		s := m.SetEmptySum()
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s.SetIsMonotonic(true)
		for i := range 100 {
			dp := s.DataPoints().AppendEmpty()
			dp.Attributes().PutInt("path", int64(i))
			dp.Attributes().PutStr("method", []string{"GET", "POST"}[i%2])
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(at(0)))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(at(sec)))
			dp.SetDoubleValue(float64(i) + add)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	}
	send(10, 0)
	send(20, 1)
	out := p.flush(at(30))
	get, _ := value(t, out, "http.requests", "method", "GET")
	post, _ := value(t, out, "http.requests", "method", "POST")
	// Sum of i+1 over even and odd i < 100.
	require.Equal(t, 2500.0, get)
	require.Equal(t, 2550.0, post)
	require.Equal(t, 100, p.nInputs)
}

// TestResourceSuccessorHints checks the lookup that tries the resource after
// the previous one first: when a resource's state was removed (its series
// went stale) and the resource comes back, it gets a new, live state, and
// the counter totals hold.
func TestResourceSuccessorHints(t *testing.T) {
	p := newTestAggregator(t, nil, nil)
	procs := map[string]hostmetricstest.Process{}
	for i, exe := range []string{"a", "b", "c"} {
		procs[exe] = hostmetricstest.Process{Host: "h", Exe: exe, PID: int64(i + 1), Start: at(0), Owner: "root"}
	}
	send := func(sec int, user float64, exes ...string) {
		t.Helper()
		p.now = func() time.Time { return at(sec) }
		md := pmetric.NewMetrics()
		for _, e := range exes {
			hostmetricstest.AppendProcess(md.ResourceMetrics(), procs[e], at(sec), user, 0)
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		for key, rs := range p.resources {
			require.False(t, rs.dead, "state %x in the map is marked dead", key)
			require.Equal(t, key, rs.key)
		}
	}
	send(10, 1, "a", "b", "c")
	send(20, 2, "a", "b", "c") // a's successor is b
	p.flush(at(21))
	// b goes stale and its state is removed at a flush; a comes last, so its
	// successor hint still points at b's state.
	for sec := 30; sec <= 400; sec += 30 {
		send(sec, float64(sec), "c", "a")
		p.flush(at(sec + 1))
	}
	require.Len(t, p.resources, 2)
	send(410, 500, "a", "b", "c") // b is back: a's successor hint points at its removed state
	require.Len(t, p.resources, 3)
	out := p.flush(at(411))
	got, _ := value(t, out, "process.cpu.time", "state", "user")
	// The processes started with the output (at 0), so all of a counter's
	// value is increase: a and c 500 each; b 2 before its state was dropped
	// as stale, then 498 since that last observation: it came back with the
	// same start, so it only grew (its whole 500 again would count 2 twice).
	require.InDelta(t, 500+500+2+498, got, 1e-9)
}

// TestCounterBackAfterStaleness: a counter that stops reporting for longer
// than the staleness window has its input dropped; when it comes back, what
// counts depends on whether it is the same counter (same start, not lower),
// a restarted one, or one back after the tomb expired.
func TestCounterBackAfterStaleness(t *testing.T) {
	tests := []struct {
		name      string
		backAt    int // seconds; the input is dropped at the flush after 400
		backStart int
		backValue float64
		want      float64 // output total after it is back
	}{
		{name: "same counter, grown", backAt: 410, backStart: 0, backValue: 50, want: 20 + 30},
		{name: "restarted", backAt: 410, backStart: 300, backValue: 7, want: 20 + 7},
		{name: "same start, lower value: a reset", backAt: 410, backStart: 0, backValue: 5, want: 20 + 5},
		{name: "after the tomb expired: new", backAt: 4000, backStart: 0, backValue: 50, want: 20 + 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestAggregator(t, nil, nil)
			a := hostmetricstest.Process{Host: "h", Exe: "a", PID: 1, Start: at(0), Owner: "root"}
			keep := hostmetricstest.Process{Host: "h", Exe: "keep", PID: 2, Start: at(0), Owner: "root"}
			send := func(sec int, procs map[hostmetricstest.Process]float64) {
				t.Helper()
				p.now = func() time.Time { return at(sec) }
				md := pmetric.NewMetrics()
				for proc, user := range procs {
					hostmetricstest.AppendProcess(md.ResourceMetrics(), proc, at(sec), user, 0)
				}
				require.NoError(t, p.ConsumeMetrics(context.Background(), md))
			}
			send(10, map[hostmetricstest.Process]float64{a: 20, keep: 0})
			p.flush(at(11))
			// keep reports on its own (so the output lives on) until a is dropped.
			for sec := 60; sec <= 400; sec += 60 {
				send(sec, map[hostmetricstest.Process]float64{keep: 0})
				p.flush(at(sec + 1))
			}
			back := a
			back.Start = at(tt.backStart)
			send(tt.backAt, map[hostmetricstest.Process]float64{back: tt.backValue, keep: 0})
			out := p.flush(at(tt.backAt + 1))
			got, _ := value(t, out, "process.cpu.time", "state", "user")
			require.InDelta(t, tt.want, got, 1e-9)
			require.LessOrEqual(t, len(p.tombs), p.cfg.MaxSeries)
		})
	}
}

// TestHistogramBackAfterStaleness: a cumulative histogram back after the
// staleness window with the same start adds only its per-bucket growth.
func TestHistogramBackAfterStaleness(t *testing.T) {
	p := newTestAggregator(t, func(c *Config) { c.RemoveLabels = []string{"pid"} }, nil)
	send := func(sec int, series map[int64][]uint64) {
		t.Helper()
		p.now = func() time.Time { return at(sec) }
		require.NoError(t, p.ConsumeMetrics(context.Background(), latencyHistograms(sec, series)))
	}
	send(10, map[int64][]uint64{1: {1, 2, 3}, 2: {0, 0, 0}})
	p.flush(at(11))
	for sec := 60; sec <= 400; sec += 60 { // pid 1 goes stale and is dropped
		send(sec, map[int64][]uint64{2: {0, 0, 0}})
		p.flush(at(sec + 1))
	}
	send(410, map[int64][]uint64{1: {2, 4, 3}, 2: {0, 0, 0}})
	out := p.flush(at(411))
	dp := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0)
	require.Equal(t, []uint64{2, 4, 3}, dp.BucketCounts().AsRaw(), "first counts plus the growth since, not counted twice")
	require.Equal(t, uint64(9), dp.Count())
}

// TestMetricIDMemo: the memo by position gives metricID's answer whatever
// changes between two metrics at the same position.
func TestMetricIDMemo(t *testing.T) {
	p := newTestAggregator(t, nil, nil)
	mk := func(name, unit string, monotonic bool) pmetric.Metric {
		m := pmetric.NewMetric()
		m.SetName(name)
		m.SetUnit(unit)
		m.SetEmptySum().SetIsMonotonic(monotonic)
		m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return m
	}
	scope := func(name, version string) pcommon.InstrumentationScope {
		s := pcommon.NewInstrumentationScope()
		s.SetName(name)
		s.SetVersion(version)
		return s
	}
	steps := []struct {
		m     pmetric.Metric
		scope pcommon.InstrumentationScope
	}{
		{mk("a", "s", true), scope("x", "1")},
		{mk("a", "s", true), scope("x", "1")},
		{mk("b", "s", true), scope("x", "1")},
		{mk("b", "By", true), scope("x", "1")},
		{mk("b", "By", false), scope("x", "1")},
		{mk("b", "By", false), scope("y", "1")},
		{mk("b", "By", false), scope("y", "2")},
		{mk("a", "s", true), scope("x", "1")},
	}
	seen := map[uint64]int{}
	for i, st := range steps {
		k, ok := kindOf(st.m)
		require.True(t, ok)
		for _, pos := range []int{0, 3, len(p.mids)} {
			require.Equal(t, metricID(st.m, k, st.scope), p.metricIDAt(pos, st.m, k, st.scope), "step %d at %d", i, pos)
		}
		seen[metricID(st.m, k, st.scope)]++
	}
	require.Len(t, seen, 6, "six distinct metrics")
}
