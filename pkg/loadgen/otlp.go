package loadgen

import (
	"math"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// Metric names, units and attributes as the process scraper's metadata.yaml
// declares them at contrib v0.160.0 (the v0 names: the v1 semconv names sit
// behind the alpha feature gate scraper.process.EmitV1SystemConventions).
const (
	MetricCPUTime     = "process.cpu.time"              // sum, cumulative, monotonic, double, "s", attr state
	MetricDiskIO      = "process.disk.io"               // sum, cumulative, monotonic, int, "By", attr direction
	MetricMemoryUsage = "process.memory.usage"          // sum, cumulative, non-monotonic, int, "By"
	MetricMemoryVirt  = "process.memory.virtual"        // sum, cumulative, non-monotonic, int, "By"
	MetricFDs         = "process.open_file_descriptors" // sum, cumulative, non-monotonic, int, "{count}"; off by default
	MetricThreads     = "process.threads"               // sum, cumulative, non-monotonic, int, "{threads}"; off by default
)

const (
	cumulative = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
)

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func unixNano(t time.Time) uint64 { return uint64(t.UnixNano()) }

func sum(name, desc, unit string, monotonic bool, dps ...*metricspb.NumberDataPoint) *metricspb.Metric {
	return &metricspb.Metric{Name: name, Description: desc, Unit: unit, Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
		DataPoints: dps, AggregationTemporality: cumulative, IsMonotonic: monotonic,
	}}}
}

func dblPoint(start, now uint64, v float64, attrs ...*commonpb.KeyValue) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{StartTimeUnixNano: start, TimeUnixNano: now, Attributes: attrs,
		Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v}}
}

func intPoint(start, now uint64, v int64, attrs ...*commonpb.KeyValue) *metricspb.NumberDataPoint {
	return &metricspb.NumberDataPoint{StartTimeUnixNano: start, TimeUnixNano: now, Attributes: attrs,
		Value: &metricspb.NumberDataPoint_AsInt{AsInt: v}}
}

// ticks rounds CPU seconds to Linux clock ticks (1/100 s), as /proc/<pid>/stat reports them.
func ticks(v float64) float64 { return math.Round(v*100) / 100 }

// resourceMetrics renders one process as the scraper's EmitForResource does,
// with the resource attributes resourcedetection (system) adds after it.
// Metrics come in the scraper's emission order.
func (s *Simulation) resourceMetrics(h *host, p *proc, ppid int64, now time.Time) *metricspb.ResourceMetrics {
	// The scraper overrides every point's start time with the process's
	// create time, which it reads in milliseconds.
	start := unixNano(p.start.Truncate(time.Millisecond))
	ts := unixNano(now)
	p.emitted = true
	ms := make([]*metricspb.Metric, 0, 6)
	ms = append(ms,
		sum(MetricCPUTime, "Total CPU seconds broken down by different states.", "s", true,
			dblPoint(start, ts, ticks(p.cpuUser), strAttr("state", "user")),
			dblPoint(start, ts, ticks(p.cpuSys), strAttr("state", "system")),
			dblPoint(start, ts, ticks(p.cpuWait), strAttr("state", "wait"))),
		sum(MetricDiskIO, "Disk bytes transferred.", "By", true,
			intPoint(start, ts, int64(p.read), strAttr("direction", "read")),
			intPoint(start, ts, int64(p.write), strAttr("direction", "write"))),
		sum(MetricMemoryUsage, "The amount of physical memory in use.", "By", false, intPoint(start, ts, p.rss)),
		sum(MetricMemoryVirt, "The amount of committed virtual memory.", "By", false, intPoint(start, ts, p.vms)),
	)
	if !s.cfg.DefaultMetricsOnly {
		ms = append(ms,
			sum(MetricFDs, "Number of file descriptors in use by the process.", "{count}", false, intPoint(start, ts, p.fds)),
			sum(MetricThreads, "Process threads count.", "{threads}", false, intPoint(start, ts, p.threads)),
		)
	}
	return &metricspb.ResourceMetrics{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			intAttr("process.pid", p.pid),
			intAttr("process.parent_pid", ppid),
			strAttr("process.executable.name", p.name),
			strAttr("process.executable.path", p.path),
			strAttr("process.command", p.command),
			strAttr("process.command_line", p.cmdline),
			strAttr("process.owner", p.owner),
			strAttr("host.name", h.name),
			strAttr("os.type", "linux"),
		}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{
			Scope:   &commonpb.InstrumentationScope{Name: ScopeName, Version: s.cfg.ScopeVersion},
			Metrics: ms,
		}},
		SchemaUrl: SchemaURL,
	}
}
