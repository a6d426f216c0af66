package topkprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// FuzzProcess feeds arbitrary OTLP protobuf to the process function: it must
// never panic, and it must never create datapoints out of nothing.
func FuzzProcess(f *testing.F) {
	var m pmetric.ProtoMarshaler
	for _, md := range []pmetric.Metrics{
		hostmetricstest.Scrape(hostmetricstest.Fleet(2, 5), hostmetricstest.Epoch.Add(time.Minute)),
		hostmetricstest.Scrape(hostmetricstest.Fleet(1, 1), hostmetricstest.Epoch),
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
		p, c := newTestTopK(t, func(cfg *Config) { cfg.K = 1; cfg.Critical = []string{"proc-1"} })
		for step := range 2 {
			c.t = hostmetricstest.Epoch.Add(time.Duration(step) * time.Minute)
			in := pmetric.NewMetrics()
			md.CopyTo(in)
			before := in.DataPointCount()
			out, err := p.process(context.Background(), in)
			if err != nil {
				t.Fatalf("process: %v", err)
			}
			if after := out.DataPointCount(); after > before {
				t.Fatalf("datapoints grew from %d to %d", before, after)
			}
		}
	})
}
