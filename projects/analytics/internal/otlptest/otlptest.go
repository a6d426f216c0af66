// Package otlptest builds OTLP and remote-write requests for tests and
// benchmarks: process-metrics shaped fleets (host.name,
// process.executable.name, process.pid, process.command_line as resource
// attributes), encoded with the upstream protos so the hot-path walker is
// checked against the reference encoder.
package otlptest

import (
	"fmt"
	"math"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	metrics "go.opentelemetry.io/proto/otlp/metrics/v1"
	resource "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// KV is an attribute with a string value.
func KV(k, v string) *common.KeyValue {
	return &common.KeyValue{Key: k, Value: &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v}}}
}

// IntKV is an attribute with an int value.
func IntKV(k string, v int64) *common.KeyValue {
	return &common.KeyValue{Key: k, Value: &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: v}}}
}

// Gauge is a gauge metric with one point per attribute set.
func Gauge(name string, v float64, attrs ...[]*common.KeyValue) *metrics.Metric {
	g := &metrics.Gauge{}
	for _, a := range attrs {
		g.DataPoints = append(g.DataPoints, &metrics.NumberDataPoint{Attributes: a, TimeUnixNano: 1, Value: &metrics.NumberDataPoint_AsDouble{AsDouble: v}})
	}
	return &metrics.Metric{Name: name, Data: &metrics.Metric_Gauge{Gauge: g}}
}

// Sum is a cumulative monotonic sum with one point per attribute set.
func Sum(name string, v float64, attrs ...[]*common.KeyValue) *metrics.Metric {
	s := &metrics.Sum{IsMonotonic: true, AggregationTemporality: metrics.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}
	for _, a := range attrs {
		s.DataPoints = append(s.DataPoints, &metrics.NumberDataPoint{Attributes: a, TimeUnixNano: 1, Value: &metrics.NumberDataPoint_AsDouble{AsDouble: v}})
	}
	return &metrics.Metric{Name: name, Data: &metrics.Metric_Sum{Sum: s}}
}

// Histogram has one point per attribute set.
func Histogram(name string, sum float64, attrs ...[]*common.KeyValue) *metrics.Metric {
	h := &metrics.Histogram{AggregationTemporality: metrics.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA}
	for _, a := range attrs {
		s := sum
		h.DataPoints = append(h.DataPoints, &metrics.HistogramDataPoint{Attributes: a, Count: 3, Sum: &s, BucketCounts: []uint64{1, 2}, ExplicitBounds: []float64{1}})
	}
	return &metrics.Metric{Name: name, Data: &metrics.Metric_Histogram{Histogram: h}}
}

// ExpHistogram has one point per attribute set.
func ExpHistogram(name string, sum float64, attrs ...[]*common.KeyValue) *metrics.Metric {
	h := &metrics.ExponentialHistogram{}
	for _, a := range attrs {
		s := sum
		h.DataPoints = append(h.DataPoints, &metrics.ExponentialHistogramDataPoint{Attributes: a, Count: 2, Sum: &s, Scale: 1,
			Positive: &metrics.ExponentialHistogramDataPoint_Buckets{Offset: 0, BucketCounts: []uint64{1, 1}}})
	}
	return &metrics.Metric{Name: name, Data: &metrics.Metric_ExponentialHistogram{ExponentialHistogram: h}}
}

// Summary has one point per attribute set.
func Summary(name string, sum float64, attrs ...[]*common.KeyValue) *metrics.Metric {
	s := &metrics.Summary{}
	for _, a := range attrs {
		s.DataPoints = append(s.DataPoints, &metrics.SummaryDataPoint{Attributes: a, Count: 7, Sum: sum,
			QuantileValues: []*metrics.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 1}}})
	}
	return &metrics.Metric{Name: name, Data: &metrics.Metric_Summary{Summary: s}}
}

// RM is a ResourceMetrics with one scope.
func RM(resAttrs []*common.KeyValue, ms ...*metrics.Metric) *metrics.ResourceMetrics {
	return &metrics.ResourceMetrics{
		Resource:     &resource.Resource{Attributes: resAttrs},
		ScopeMetrics: []*metrics.ScopeMetrics{{Scope: &common.InstrumentationScope{Name: "test"}, Metrics: ms}},
	}
}

// Request wraps ResourceMetrics.
func Request(rms ...*metrics.ResourceMetrics) *colmetrics.ExportMetricsServiceRequest {
	return &colmetrics.ExportMetricsServiceRequest{ResourceMetrics: rms}
}

// Marshal encodes a request.
func Marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("marshal: %v", err))
	}
	return b
}

// ProcessMetrics are the per-process metrics of hostmetrics' process
// scraper with their datapoint attribute sets: 10 series per process.
var ProcessMetrics = []struct {
	Name  string
	Attrs [][]*common.KeyValue
}{
	{"process.cpu.time", [][]*common.KeyValue{{KV("state", "user")}, {KV("state", "system")}, {KV("state", "wait")}}},
	{"process.memory.usage", [][]*common.KeyValue{nil}},
	{"process.memory.virtual", [][]*common.KeyValue{nil}},
	{"process.disk.io", [][]*common.KeyValue{{KV("direction", "read")}, {KV("direction", "write")}}},
	{"process.threads", [][]*common.KeyValue{nil}},
	{"process.open_file_descriptors", [][]*common.KeyValue{nil}},
	{"process.context_switches", [][]*common.KeyValue{{KV("type", "voluntary")}}},
}

// SeriesPerProcess is the series count ProcessMetrics gives one process.
const SeriesPerProcess = 10

// ProcessResource is the resource of process pid on host h.
func ProcessResource(host, exe string, pid int) []*common.KeyValue {
	return []*common.KeyValue{
		KV("host.name", host), KV("process.executable.name", exe), IntKV("process.pid", int64(pid)),
		KV("process.command_line", fmt.Sprintf("/usr/bin/%s --worker %d", exe, pid)),
	}
}

// ProcessFleet builds requests of about dpPerRequest datapoints covering
// processes [first, first+n), spread over hosts of 100 processes each.
func ProcessFleet(first, n, dpPerRequest int, extra ...*common.KeyValue) [][]byte {
	var out [][]byte
	var rms []*metrics.ResourceMetrics
	points := 0
	exes := []string{"nginx", "postgres", "java", "python3", "node", "redis-server", "sshd", "containerd"}
	for p := first; p < first+n; p++ {
		res := ProcessResource(fmt.Sprintf("host-%d", p/100), exes[p%len(exes)], p)
		res = append(res, extra...)
		var ms []*metrics.Metric
		for _, pm := range ProcessMetrics {
			if pm.Name == "process.cpu.time" || pm.Name == "process.disk.io" || pm.Name == "process.context_switches" {
				ms = append(ms, Sum(pm.Name, float64(p), pm.Attrs...))
			} else {
				ms = append(ms, Gauge(pm.Name, float64(p), pm.Attrs...))
			}
		}
		rms = append(rms, RM(res, ms...))
		points += SeriesPerProcess
		if points >= dpPerRequest {
			out = append(out, Marshal(Request(rms...)))
			rms, points = nil, 0
		}
	}
	if len(rms) > 0 {
		out = append(out, Marshal(Request(rms...)))
	}
	return out
}

// RWSeries is a remote-write series: labels in the order given (including
// __name__) and sample values.
type RWSeries struct {
	Labels  [][2]string
	Samples []float64
}

// RemoteWrite encodes a prometheus.WriteRequest (uncompressed).
func RemoteWrite(series ...RWSeries) []byte {
	var req []byte
	for _, s := range series {
		var ts []byte
		for _, l := range s.Labels {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l[0])
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l[1])
			ts = protowire.AppendTag(ts, 1, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lb)
		}
		for i, v := range s.Samples {
			var sb []byte
			sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
			sb = protowire.AppendFixed64(sb, math.Float64bits(v))
			sb = protowire.AppendTag(sb, 2, protowire.VarintType)
			sb = protowire.AppendVarint(sb, uint64(1700000000000+i))
			ts = protowire.AppendTag(ts, 2, protowire.BytesType)
			ts = protowire.AppendBytes(ts, sb)
		}
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, ts)
	}
	return req
}

// RWMetadata is a remote write 1.0 MetricMetadata: a family name and its
// prompb type (1 counter, 2 gauge, 3 histogram, 5 summary, ...).
type RWMetadata struct {
	Family string
	Type   uint64
}

// RemoteWriteWithMetadata is RemoteWrite followed by metadata entries.
func RemoteWriteWithMetadata(md []RWMetadata, series ...RWSeries) []byte {
	req := RemoteWrite(series...)
	for _, m := range md {
		var mb []byte
		mb = protowire.AppendTag(mb, 1, protowire.VarintType)
		mb = protowire.AppendVarint(mb, m.Type)
		mb = protowire.AppendTag(mb, 2, protowire.BytesType)
		mb = protowire.AppendString(mb, m.Family)
		mb = protowire.AppendTag(mb, 4, protowire.BytesType)
		mb = protowire.AppendString(mb, "help text")
		req = protowire.AppendTag(req, 3, protowire.BytesType)
		req = protowire.AppendBytes(req, mb)
	}
	return req
}
