// Package hostmetricstest builds metrics shaped like the hostmetrics
// receiver's process scraper output after the resourcedetection processor:
// one ResourceMetrics per process with host.name, process.pid,
// process.executable.name, process.command_line and process.owner on the
// RESOURCE; process.cpu.time a cumulative monotonic sum by `state`,
// process.memory.usage a gauge, process.disk.io a cumulative sum by
// `direction`. Tests and benchmarks of every processor share it.
package hostmetricstest

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ScopeName is the hostmetrics process scraper's instrumentation scope.
const ScopeName = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper"

// Epoch is the fixed start of generated time series.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Process is one process of the fleet.
type Process struct {
	Host    string  `json:"host"`
	Exe     string  `json:"exe"`
	PID     int64   `json:"pid"`
	Owner   string  `json:"owner"`
	CPURate float64 `json:"cpu_rate"` // CPU seconds per second, split 70/30 user/system
	Memory  int64   `json:"memory"`   // bytes
	Start   time.Time
}

// Fleet makes hosts × perHost processes; CPU rates fall with the index so the
// ranking is known: the process with index i on a host has rate 1/(i+1).
func Fleet(hosts, perHost int) []Process {
	out := make([]Process, 0, hosts*perHost)
	for h := range hosts {
		for i := range perHost {
			out = append(out, Process{
				Host:    fmt.Sprintf("host-%d", h),
				Exe:     fmt.Sprintf("proc-%d", i),
				PID:     int64(1000 + i),
				Owner:   "root",
				CPURate: 1 / float64(i+1),
				Memory:  int64(1<<20) * int64(i+1),
				Start:   Epoch,
			})
		}
	}
	return out
}

// CPUUser and CPUSystem are a process's cumulative CPU seconds at t.
func (p Process) CPUUser(t time.Time) float64   { return 0.7 * p.CPURate * t.Sub(p.Start).Seconds() }
func (p Process) CPUSystem(t time.Time) float64 { return 0.3 * p.CPURate * t.Sub(p.Start).Seconds() }

// Scrape renders the fleet as one scrape at t.
func Scrape(fleet []Process, t time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	rms.EnsureCapacity(len(fleet))
	for _, p := range fleet {
		AppendProcess(rms, p, t, p.CPUUser(t), p.CPUSystem(t))
	}
	return md
}

// AppendProcess appends one process's scrape with explicit CPU values (for
// tests that make counters reset).
func AppendProcess(rms pmetric.ResourceMetricsSlice, p Process, t time.Time, user, system float64) {
	rm := rms.AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("host.name", p.Host)
	ra.PutInt("process.pid", p.PID)
	ra.PutStr("process.executable.name", p.Exe)
	ra.PutStr("process.command_line", "/usr/bin/"+p.Exe+" --serve")
	ra.PutStr("process.owner", p.Owner)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	sm.Scope().SetVersion("0.160.0")
	start := pcommon.NewTimestampFromTime(p.Start)
	ts := pcommon.NewTimestampFromTime(t)

	cpu := sm.Metrics().AppendEmpty()
	cpu.SetName("process.cpu.time")
	cpu.SetUnit("s")
	sum := cpu.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.SetIsMonotonic(true)
	for _, st := range []struct {
		state string
		v     float64
	}{{"user", user}, {"system", system}, {"wait", 0}} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(st.v)
		dp.Attributes().PutStr("state", st.state)
	}

	mem := sm.Metrics().AppendEmpty()
	mem.SetName("process.memory.usage")
	mem.SetUnit("By")
	g := mem.SetEmptyGauge().DataPoints().AppendEmpty()
	g.SetTimestamp(ts)
	g.SetIntValue(p.Memory)

	disk := sm.Metrics().AppendEmpty()
	disk.SetName("process.disk.io")
	disk.SetUnit("By")
	ds := disk.SetEmptySum()
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ds.SetIsMonotonic(true)
	for i, dir := range []string{"read", "write"} {
		dp := ds.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(i+1) * 4096 * int64(p.PID))
		dp.Attributes().PutStr("direction", dir)
	}
}

// Totals sums every numeric datapoint by metric name and the given attribute
// keys (looked up on the resource, then the datapoint), so tests can compare
// what went in with what came out.
func Totals(md pmetric.Metrics, keys ...string) map[string]float64 {
	out := map[string]float64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for _, dp := range dps.All() {
					k := m.Name()
					for _, key := range keys {
						v, ok := rm.Resource().Attributes().Get(key)
						if !ok {
							v, ok = dp.Attributes().Get(key)
						}
						if ok {
							k += "|" + key + "=" + v.AsString()
						}
					}
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						out[k] += float64(dp.IntValue())
					} else {
						out[k] += dp.DoubleValue()
					}
				}
			}
		}
	}
	return out
}
