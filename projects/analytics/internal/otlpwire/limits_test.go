package otlpwire_test

import (
	"fmt"
	"strings"
	"testing"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

func manyKV(prefix string, n int) []*common.KeyValue {
	out := make([]*common.KeyValue, n)
	for i := range out {
		out[i] = otlptest.KV(fmt.Sprintf("%s%d", prefix, i), "v")
	}
	return out
}

// TestLimits: each limit refuses exactly the datapoints that break it, at
// the boundary, from resource and datapoint attributes alike; the rest of
// the request is fed as usual.
func TestLimits(t *testing.T) {
	lim := otlpwire.Limits{MaxNameBytes: 16, MaxLabelNameBytes: 8, MaxLabelValueBytes: 200, MaxLabels: 4}
	kv := otlptest.KV
	ok := otlptest.Gauge("ok", 1, []*common.KeyValue{kv("a", "1")})
	cases := []struct {
		name    string
		res     []*common.KeyValue
		metric  string
		attrs   []*common.KeyValue
		refusal otlpwire.Refusal
	}{
		{"fits", nil, "m", []*common.KeyValue{kv("a", "1")}, otlpwire.Accepted},
		{"name at the limit", nil, strings.Repeat("n", 16), nil, otlpwire.Accepted},
		{"name over", nil, strings.Repeat("n", 17), nil, otlpwire.RefusedNameTooLong},
		{"name 1 MiB", nil, strings.Repeat("n", 1<<20), nil, otlpwire.RefusedNameTooLong},
		{"label name at the limit", nil, "m", []*common.KeyValue{kv("12345678", "1")}, otlpwire.Accepted},
		{"label name over", nil, "m", []*common.KeyValue{kv("123456789", "1")}, otlpwire.RefusedLabelNameTooLong},
		{"resource label name over", []*common.KeyValue{kv("123456789", "1")}, "m", nil, otlpwire.RefusedLabelNameTooLong},
		{"value at the limit", nil, "m", []*common.KeyValue{kv("a", strings.Repeat("v", 200))}, otlpwire.Accepted},
		{"value over", nil, "m", []*common.KeyValue{kv("a", strings.Repeat("v", 201))}, otlpwire.RefusedLabelValueTooLong},
		{"resource value 1 MiB", []*common.KeyValue{kv("a", strings.Repeat("v", 1<<20))}, "m", nil, otlpwire.RefusedLabelValueTooLong},
		{"int value", nil, "m", []*common.KeyValue{otlptest.IntKV("a", 1<<60)}, otlpwire.Accepted},
		{"empty label name", nil, "m", []*common.KeyValue{kv("", "1")}, otlpwire.RefusedEmptyLabelName},
		{"empty resource label name", []*common.KeyValue{kv("", "1")}, "m", nil, otlpwire.RefusedEmptyLabelName},
		{"labels at the limit", manyKV("r", 2), "m", manyKV("d", 2), otlpwire.Accepted},
		{"labels over, resource and datapoint", manyKV("r", 2), "m", manyKV("d", 3), otlpwire.RefusedTooManyLabels},
		{"labels over in the resource alone", manyKV("r", 5), "m", nil, otlpwire.RefusedTooManyLabels},
		{"10000 labels", nil, "m", manyKV("d", 10_000), otlpwire.RefusedTooManyLabels},
		{"phoenix attributes do not count", []*common.KeyValue{kv("phoenix.experiment.id", "e"), kv("phoenix.variant", "v"), kv("a", "1"), kv("b", "1")}, "m", manyKV("d", 2), otlpwire.Accepted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := otlptest.Marshal(otlptest.Request(
				otlptest.RM(c.res, otlptest.Gauge(c.metric, 1, c.attrs, c.attrs), ok),
				otlptest.RM(nil, ok),
			))
			var sink countSink
			if err := otlpwire.WalkLimited(body, &sink, lim); err != nil {
				t.Fatal(err)
			}
			// Request: resource 1 holds the case's metric (2 points) and
			// "ok" (1), resource 2 holds "ok" (1). A refused resource refuses
			// all 3 of its points.
			refused := 0
			switch {
			case c.refusal == otlpwire.Accepted:
			case len(c.res) > 0 && !strings.Contains(c.name, "datapoint"):
				refused = 3
			default:
				refused = 2
			}
			if sink.points != 4-refused || sink.refused[c.refusal] != refused && refused > 0 || len(sink.refused) > 1 {
				t.Errorf("points %d refused %v, want %d points and %d %s", sink.points, sink.refused, 4-refused, refused, c.refusal)
			}
			// Without limits everything is fed but empty names, which
			// neither OTLP nor Prometheus allows.
			var all countSink
			want := 4
			if c.refusal == otlpwire.RefusedEmptyLabelName {
				want -= refused
			}
			if err := otlpwire.WalkLimited(body, &all, otlpwire.Limits{}); err != nil || all.points != want {
				t.Errorf("unlimited: %d points, refused %v, %v", all.points, all.refused, err)
			}
		})
	}
}

// A request with an oversized attribute after it is malformed is refused
// whole: limits never hide a structural error.
func TestLimitsThenMalformed(t *testing.T) {
	body := otlptest.Marshal(otlptest.Request(otlptest.RM(nil, otlptest.Gauge(strings.Repeat("n", 300), 1, nil))))
	body = append(body, 0x0a, 0x05, 0x01)
	var sink countSink
	if err := otlpwire.WalkLimited(body, &sink, otlpwire.DefaultLimits()); err == nil {
		t.Fatal("malformed request accepted")
	}
}
