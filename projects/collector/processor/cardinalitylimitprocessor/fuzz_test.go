package cardinalitylimitprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// FuzzProcess feeds arbitrary OTLP protobuf to the process function: it must
// not panic, and no metric may pass more than `limit` non-overflow series.
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
	})
}
