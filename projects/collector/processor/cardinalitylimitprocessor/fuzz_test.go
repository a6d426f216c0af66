package cardinalitylimitprocessor

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// FuzzProcess feeds arbitrary OTLP protobuf to the process function: it must
// not panic, no metric may pass more than `limit` non-overflow series, and
// folding keeps every metric's total (when the input's totals are finite).
func FuzzProcess(f *testing.F) {
	var m pmetric.ProtoMarshaler
	for _, md := range []pmetric.Metrics{
		hostmetricstest.Scrape(hostmetricstest.Fleet(2, 5), hostmetricstest.Epoch.Add(time.Minute)),
		pmetric.NewMetrics(),
	} {
		b, err := m.MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var u pmetric.ProtoUnmarshaler
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		l, _ := newTestLimiter(t, func(c *Config) { c.Limit = 2; c.NeverDrop = []string{"host.name"} })
		want := hostmetricstest.Totals(md)
		out, err := l.process(context.Background(), md)
		if err != nil {
			t.Fatalf("process: %v", err)
		}
		normal, _ := seriesStats(out)
		for name, s := range normal {
			if len(s) > 2 {
				t.Fatalf("metric %q passed %d series over a limit of 2", name, len(s))
			}
		}
		got := hostmetricstest.Totals(out)
		for name, w := range want {
			if math.IsNaN(w) || math.IsInf(w, 0) || math.Abs(w) > 1e300 {
				continue
			}
			if g := got[name]; math.Abs(g-w) > 1e-9*max(1, math.Abs(w)) {
				t.Fatalf("metric %q: total %v in, %v out", name, w, g)
			}
		}
	})
}
