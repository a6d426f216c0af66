package topkprocessor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// clock is a settable time source for the processor.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestTopK(t testing.TB, mutate func(*Config)) (*topK, *clock) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	p, err := newTopK(cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	c := &clock{t: hostmetricstest.Epoch}
	p.now = c.now
	return p, c
}

// processes lists the resources of md by host: executable names in order.
func processes(md pmetric.Metrics) map[string][]string {
	out := map[string][]string{}
	for _, rm := range md.ResourceMetrics().All() {
		a := rm.Resource().Attributes()
		host, _ := a.Get("host.name")
		exe, _ := a.Get("process.executable.name")
		out[host.AsString()] = append(out[host.AsString()], exe.AsString())
	}
	return out
}

func TestTopKPreservesTotals(t *testing.T) {
	tests := []struct {
		name       string
		hosts, per int
		k          int
		critical   []string
		wantKept   int // resources kept per host, excluding _other_
	}{
		{name: "k=1", hosts: 2, per: 20, k: 1, wantKept: 1},
		{name: "k=3 with a critical tail process", hosts: 3, per: 30, k: 3, critical: []string{"proc-2[0-9]"}, wantKept: 3 + 10},
		{name: "k larger than the fleet", hosts: 1, per: 5, k: 10, wantKept: 5},
		{name: "k=10 default", hosts: 2, per: 200, k: 10, wantKept: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := newTestTopK(t, func(cfg *Config) { cfg.K = tt.k; cfg.Critical = tt.critical })
			fleet := hostmetricstest.Fleet(tt.hosts, tt.per)
			for step := range 12 {
				c.t = hostmetricstest.Epoch.Add(time.Duration(step+1) * 10 * time.Second)
				in := hostmetricstest.Scrape(fleet, c.t)
				wantByHostState := hostmetricstest.Totals(in, "host.name", "state", "direction")
				wantByMetric := hostmetricstest.Totals(in)
				out, err := p.process(context.Background(), in)
				require.NoError(t, err)
				require.InDeltaMapValues(t, wantByHostState, hostmetricstest.Totals(out, "host.name", "state", "direction"), 1e-6)
				require.InDeltaMapValues(t, wantByMetric, hostmetricstest.Totals(out), 1e-6)

				byHost := processes(out)
				require.Len(t, byHost, tt.hosts)
				for host, exes := range byHost {
					kept := 0
					others := 0
					for _, exe := range exes {
						if exe == OtherValue {
							others++
							continue
						}
						kept++
					}
					require.Equal(t, tt.wantKept, kept, "host %s step %d: %v", host, step, exes)
					if tt.per > tt.wantKept {
						require.Equal(t, 1, others, "one _other_ per group")
					}
					// The highest-rate processes (lowest index) are the kept ones.
					for i := range min(tt.k, tt.per) {
						require.Contains(t, exes, hostmetricstest.Fleet(1, tt.per)[i].Exe)
					}
				}
			}
		})
	}
}

func TestOtherResourceShape(t *testing.T) {
	p, c := newTestTopK(t, func(cfg *Config) { cfg.K = 1 })
	fleet := hostmetricstest.Fleet(1, 4)
	c.t = hostmetricstest.Epoch.Add(time.Minute)
	out, err := p.process(context.Background(), hostmetricstest.Scrape(fleet, c.t))
	require.NoError(t, err)
	require.Equal(t, 2, out.ResourceMetrics().Len())
	other := out.ResourceMetrics().At(1)
	require.Equal(t, map[string]any{
		"host.name": "host-0", "process.executable.name": OtherValue, "process.pid": OtherValue,
	}, other.Resource().Attributes().AsRaw())
	sm := other.ScopeMetrics().At(0)
	require.Equal(t, hostmetricstest.ScopeName, sm.Scope().Name())
	cpu := sm.Metrics().At(0)
	require.Equal(t, "process.cpu.time", cpu.Name())
	require.True(t, cpu.Sum().IsMonotonic())
	require.Equal(t, 3, cpu.Sum().DataPoints().Len(), "one series per state")
	// process.memory.usage: 2+3+4 MiB (process 0 kept).
	mem := sm.Metrics().At(1)
	require.Equal(t, int64(9<<20), mem.Gauge().DataPoints().At(0).IntValue())
}

func TestHysteresisHoldsMembership(t *testing.T) {
	p, c := newTestTopK(t, func(cfg *Config) {
		cfg.K = 2
		cfg.Window = 10 * time.Second
		cfg.Hysteresis = 30 * time.Second
		cfg.Decay = 0
	})
	// a and b are hot; at t=60s b goes idle and c gets busy.
	a := hostmetricstest.Process{Host: "h", Exe: "a", PID: 1, Start: hostmetricstest.Epoch}
	b := hostmetricstest.Process{Host: "h", Exe: "b", PID: 2, Start: hostmetricstest.Epoch}
	cc := hostmetricstest.Process{Host: "h", Exe: "c", PID: 3, Start: hostmetricstest.Epoch}
	d := hostmetricstest.Process{Host: "h", Exe: "d", PID: 4, Start: hostmetricstest.Epoch}
	cpu := map[string]float64{}
	rate := func(sec int, exe string) float64 {
		switch {
		case exe == "a":
			return 10
		case exe == "b" && sec <= 60:
			return 5
		case exe == "c" && sec > 60:
			return 8
		case exe == "d":
			return 0.1
		}
		return 0
	}
	var bKeptUntil, cKeptFrom int
	for sec := 10; sec <= 150; sec += 10 {
		c.t = hostmetricstest.Epoch.Add(time.Duration(sec) * time.Second)
		md := pmetric.NewMetrics()
		for _, proc := range []hostmetricstest.Process{a, b, cc, d} {
			cpu[proc.Exe] += rate(sec, proc.Exe) * 10
			hostmetricstest.AppendProcess(md.ResourceMetrics(), proc, c.t, cpu[proc.Exe], 0)
		}
		out, err := p.process(context.Background(), md)
		require.NoError(t, err)
		exes := processes(out)["h"]
		require.Contains(t, exes, "a")
		require.NotContains(t, exes, "d", "d never ranks")
		if contains(exes, "b") {
			bKeptUntil = sec
		}
		if contains(exes, "c") && cKeptFrom == 0 {
			cKeptFrom = sec
		}
	}
	// b ranks out at t=70 (its rate over 60..70 is 0) but is held for the
	// 30 s hysteresis: still there at 90, gone from 100.
	require.Equal(t, 90, bKeptUntil)
	require.Equal(t, 70, cKeptFrom, "newcomers enter at the first rank they win")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCounterResetDoesNotBreakRanking(t *testing.T) {
	p, c := newTestTopK(t, func(cfg *Config) { cfg.K = 1; cfg.Window = 10 * time.Second; cfg.Hysteresis = 0; cfg.Decay = 0 })
	a := hostmetricstest.Process{Host: "h", Exe: "a", PID: 1, Start: hostmetricstest.Epoch}
	b := hostmetricstest.Process{Host: "h", Exe: "b", PID: 2, Start: hostmetricstest.Epoch}
	steps := []struct {
		sec  int
		a, b float64
		want string
	}{
		{10, 100, 10, "a"},
		{20, 200, 20, "a"},
		// a restarts (same pid, new start): its counter falls to 5, which is
		// a reset and not a negative rate; b is now faster.
		{30, 5, 1000, "b"},
	}
	for _, st := range steps {
		c.t = hostmetricstest.Epoch.Add(time.Duration(st.sec) * time.Second)
		md := pmetric.NewMetrics()
		aa := a
		if st.sec == 30 {
			aa.Start = c.t.Add(-5 * time.Second)
		}
		hostmetricstest.AppendProcess(md.ResourceMetrics(), aa, c.t, st.a, 0)
		hostmetricstest.AppendProcess(md.ResourceMetrics(), b, c.t, st.b, 0)
		in := hostmetricstest.Totals(md)
		out, err := p.process(context.Background(), md)
		require.NoError(t, err)
		require.InDeltaMapValues(t, in, hostmetricstest.Totals(out), 1e-9)
		require.Contains(t, processes(out)["h"], st.want, "t=%d", st.sec)
	}
}

func TestDatapointEntities(t *testing.T) {
	// Entities identified by datapoint attributes (a Prometheus-style scrape):
	// one resource, pid as a label.
	p, c := newTestTopK(t, func(cfg *Config) {
		cfg.K = 1
		cfg.EntityKeys = []string{"pid"}
		cfg.RankMetric = "cpu_seconds_total"
	})
	c.t = hostmetricstest.Epoch.Add(time.Minute)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "h")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("cpu_seconds_total")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, v := range []float64{50, 10, 20} {
		dp := s.DataPoints().AppendEmpty()
		dp.Attributes().PutInt("pid", int64(i))
		dp.Attributes().PutStr("mode", "user")
		dp.SetStartTimestamp(pcommonTS(hostmetricstest.Epoch))
		dp.SetTimestamp(pcommonTS(c.t))
		dp.SetDoubleValue(v)
	}
	out, err := p.process(context.Background(), md)
	require.NoError(t, err)
	got := map[string]float64{}
	for _, rm := range out.ResourceMetrics().All() {
		for _, dp := range rm.ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().All() {
			pid, _ := dp.Attributes().Get("pid")
			got[pid.AsString()] += dp.DoubleValue()
		}
	}
	require.Equal(t, map[string]float64{"0": 50, OtherValue: 30}, got)
}

func TestMaxEntitiesRefusesAndRollsUp(t *testing.T) {
	p, c := newTestTopK(t, func(cfg *Config) { cfg.K = 100; cfg.MaxEntities = 3 })
	c.t = hostmetricstest.Epoch.Add(time.Minute)
	in := hostmetricstest.Scrape(hostmetricstest.Fleet(1, 10), c.t)
	want := hostmetricstest.Totals(in, "state")
	out, err := p.process(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, p.entities, 3)
	require.InDeltaMapValues(t, want, hostmetricstest.Totals(out, "state"), 1e-9)
	require.Equal(t, 4, out.ResourceMetrics().Len(), "3 tracked entities + _other_")
}

func TestStaleEntitiesAreSwept(t *testing.T) {
	p, c := newTestTopK(t, nil)
	c.t = hostmetricstest.Epoch.Add(time.Minute)
	_, err := p.process(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 50), c.t))
	require.NoError(t, err)
	require.Len(t, p.entities, 50)
	c.t = c.t.Add(10 * time.Minute)
	_, err = p.process(context.Background(), hostmetricstest.Scrape(hostmetricstest.Fleet(1, 5), c.t))
	require.NoError(t, err)
	require.Len(t, p.entities, 5)
	require.Len(t, p.groups, 1)
}

func TestFactoryPipeline(t *testing.T) {
	f := NewFactory()
	require.Equal(t, typeStr, f.Type().String())
	require.NoError(t, f.CreateDefaultConfig().(*Config).Validate())
	sink := new(consumertest.MetricsSink)
	proc, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	in := hostmetricstest.Scrape(hostmetricstest.Fleet(2, 30), hostmetricstest.Epoch.Add(time.Minute))
	want := hostmetricstest.Totals(in, "host.name", "state")
	require.NoError(t, proc.ConsumeMetrics(context.Background(), in))
	require.NoError(t, proc.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	out := sink.AllMetrics()[0]
	require.InDeltaMapValues(t, want, hostmetricstest.Totals(out, "host.name", "state"), 1e-9)
	require.Equal(t, 2*(10+1), out.ResourceMetrics().Len())
}

func pcommonTS(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }

// toDelta rewrites the cumulative sums of md as 10 s deltas, as
// cumulativetodelta ahead of phoenix_topk would.
func toDelta(md pmetric.Metrics, fleet []hostmetricstest.Process, t time.Time) {
	for i, rm := range md.ResourceMetrics().All() {
		for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
			if m.Type() != pmetric.MetricTypeSum {
				continue
			}
			m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			for _, dp := range m.Sum().DataPoints().All() {
				dp.SetStartTimestamp(pcommonTS(t.Add(-10 * time.Second)))
				if m.Name() == "process.cpu.time" {
					dp.SetDoubleValue(dp.DoubleValue() / t.Sub(fleet[i].Start).Seconds() * 10)
				}
			}
		}
	}
}

func TestDeltaInputRanksAndSums(t *testing.T) {
	p, c := newTestTopK(t, func(cfg *Config) { cfg.K = 3 })
	fleet := hostmetricstest.Fleet(2, 25)
	for step := range 4 {
		c.t = hostmetricstest.Epoch.Add(time.Duration(step+1) * 10 * time.Second)
		in := hostmetricstest.Scrape(fleet, c.t)
		toDelta(in, fleet, c.t)
		want := hostmetricstest.Totals(in, "host.name", "state")
		out, err := p.process(context.Background(), in)
		require.NoError(t, err)
		require.InDeltaMapValues(t, want, hostmetricstest.Totals(out, "host.name", "state"), 1e-9)
		for host, exes := range processes(out) {
			require.ElementsMatch(t, []string{"proc-0", "proc-1", "proc-2", OtherValue}, exes, host)
		}
	}
}

// TestSuccessorHints checks the lookup that tries the entity after the
// previous one first: in another order, after a sweep removed the
// successors, and when removed processes come back, every resource maps to
// its own live entity and totals hold.
func TestSuccessorHints(t *testing.T) {
	p, c := newTestTopK(t, nil)
	fleet := hostmetricstest.Fleet(1, 50)
	run := func(f []hostmetricstest.Process) {
		t.Helper()
		c.t = c.t.Add(10 * time.Second)
		in := hostmetricstest.Scrape(f, c.t)
		want := hostmetricstest.Totals(in, "state")
		out, err := p.process(context.Background(), in)
		require.NoError(t, err)
		require.InDeltaMapValues(t, want, hostmetricstest.Totals(out, "state"), 1e-9)
		seen := 0
		for id, e := range p.entities {
			require.False(t, e.dead, "entity %x in the map is marked dead", id)
			require.Equal(t, id, e.id)
			if e.lastSeen.Equal(c.t) {
				seen++
			}
		}
		require.Equal(t, len(f), seen, "entities in the map seen in this batch")
	}
	run(fleet)
	run(fleet) // successors learnt
	require.Len(t, p.entities, 50)
	reversed := slices.Clone(fleet)
	slices.Reverse(reversed)
	run(reversed)
	require.Len(t, p.entities, 50)
	run(fleet) // the fifth's successor is the sixth again
	// The first five stay alive while the others go stale (150 s with the
	// defaults): the sweep removes those, so the fifth's successor is dead.
	c.t = c.t.Add(90 * time.Second)
	run(fleet[:5])
	c.t = c.t.Add(90 * time.Second)
	run(fleet[:5])
	require.Len(t, p.entities, 5)
	run(fleet) // the others come back as new entities
	require.Len(t, p.entities, 50)
	for _, g := range p.groups {
		for _, e := range g.members {
			require.Same(t, e, p.entities[e.id])
		}
	}
}
