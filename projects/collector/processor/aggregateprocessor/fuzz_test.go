package aggregateprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// FuzzProcess feeds arbitrary OTLP protobuf to ConsumeMetrics and flushes:
// nothing may panic, and a flush never emits more series than went in.
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
		p := newTestAggregator(t, nil, nil)
		in := md.DataPointCount()
		for range 2 {
			if err := p.ConsumeMetrics(context.Background(), md); err != nil {
				t.Fatalf("consume: %v", err)
			}
		}
		if out := p.flush(time.Now()).DataPointCount(); out > in {
			t.Fatalf("flush emitted %d datapoints from %d input series", out, in)
		}
	})
}
