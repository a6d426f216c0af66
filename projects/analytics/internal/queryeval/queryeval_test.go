package queryeval

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// memData is Data over a fixed set of series.
type memData map[string][]*Series

func (d memData) Series(name string) []*Series { return d[name] }

var t0 = time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// counter builds a series sampled every 10 s from t0 with the given values.
func counter(name string, vals []float64, kv ...string) *Series {
	s := &Series{Labels: labels.FromStrings(append([]string{labels.MetricName, name}, kv...)...)}
	for i, v := range vals {
		s.Samples = append(s.Samples, Sample{T: at(10 * i), V: v})
	}
	return s
}

func testData() memData {
	return memData{
		"cpu": {
			counter("cpu", []float64{0, 10, 20, 30, 40, 50, 60}, "host", "a", "pid", "1"),
			counter("cpu", []float64{100, 105, 110, 2, 7, 12, 17}, "host", "a", "pid", "2"), // reset after 110
			counter("cpu", []float64{0, 1, 2, 3, 4, 5, 6}, "host", "b", "pid", "3"),
		},
		"mem": {
			counter("mem", []float64{5}, "host", "a"),
			counter("mem", []float64{7}, "host", "b"),
		},
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		expr string
		want map[string]float64 // key -> value
	}{
		{`mem`, map[string]float64{"__name__=mem,host=a": 5, "__name__=mem,host=b": 7}},
		{`sum(mem)`, map[string]float64{"": 12}},
		{`sum by (host) (mem) * 2`, map[string]float64{"host=a": 10, "host=b": 14}},
		{`max(mem) - min(mem)`, map[string]float64{"": 2}},
		{`count without (host) (mem)`, map[string]float64{"": 2}},
		{`avg(mem)`, map[string]float64{"": 6}},
		{`topk(1, mem)`, map[string]float64{"__name__=mem,host=b": 7}},
		{`bottomk(1, mem)`, map[string]float64{"__name__=mem,host=a": 5}},
		{`-mem{host="a"}`, map[string]float64{"host=a": -5}},
		{`mem / on(host) mem`, map[string]float64{"host=a": 1, "host=b": 1}},
		{`mem + ignoring(x) mem`, map[string]float64{"host=a": 10, "host=b": 14}},
		{`1 + 2`, map[string]float64{"": 3}},
		// (60-30)/30 s over the samples at 30..60 s, range (0:30, 1:00].
		{`rate(cpu{pid="1"}[30s])`, map[string]float64{"host=a,pid=1": 1}},
		// pid 2 over (0:00, 1:00]: 105->110 (+5), reset to 2 (+2), +5 +5 +5 = 22 in 50 s.
		{`increase(cpu{pid="2"}[60s])`, map[string]float64{"host=a,pid=2": 22 * 60.0 / 50}},
		{`sum by (host) (rate(cpu[60s]))`, map[string]float64{"host=a": 1 + 22.0/50, "host=b": 0.1}},
		{`{"cpu", "host"="b"}`, map[string]float64{"__name__=cpu,host=b,pid=3": 6}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Eval(q, at(60), testData(), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, e := range res.Elems {
				got[Key(e.Labels)] = e.V
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9 {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestParseNotEvaluated(t *testing.T) {
	tests := []struct{ expr, reason string }{
		{`histogram_quantile(0.9, rate(x[5m]))`, "function histogram_quantile"},
		{`x offset 5m`, "offset"},
		{`x > 3`, "operator >"},
		{`quantile(0.5, x)`, "aggregation quantile"},
		{`x[5m]`, "range vector"},
		{`{job="a"}`, "without a metric name"},
		{`rate(x[2h])`, "longer than"},
		{`a * on(h) group_left b`, "group_left"},
		{`topk(scalar(x), y)`, "number literal"},
		{`rate(x[5m:1m])`, "subquery"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		if !errors.Is(err, ErrNotEvaluated) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Parse(%q) = %v, want not evaluated: %s", tt.expr, err, tt.reason)
		}
	}
	if _, err := Parse(`sum(`); err == nil || errors.Is(err, ErrNotEvaluated) {
		t.Errorf("a syntax error must be a parse error, got %v", err)
	}
}

func TestIncrease(t *testing.T) {
	ss := []Sample{{at(0), 10}, {at(10), 15}, {at(20), 3}, {at(30), 8}}
	inc, first, last, n := Increase(ss, at(-1), at(30))
	if inc != 5+3+5 || !first.Equal(at(0)) || !last.Equal(at(30)) || n != 4 {
		t.Fatalf("Increase = %v %v %v %d", inc, first, last, n)
	}
}

func FuzzEval(f *testing.F) {
	seeds, err := os.ReadFile("testdata/queries.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(seeds), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			f.Add(l)
		}
	}
	d := testData()
	f.Fuzz(func(t *testing.T, expr string) {
		q, err := Parse(expr)
		if err != nil {
			return
		}
		res, err := Eval(q, at(60), d, Limits{MaxSeries: 10})
		if err != nil && !errors.Is(err, ErrNotEvaluated) && !strings.Contains(err.Error(), "more than") {
			t.Fatalf("Eval(%q): unexpected error %v", expr, err)
		}
		_ = res
	})
}
