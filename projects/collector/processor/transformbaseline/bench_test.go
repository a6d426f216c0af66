package transformbaseline

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// statements is the closest OTTL gets to what phoenix_topk does: mark every
// datapoint of a non-top process (without summing anything), one condition
// and one write per datapoint.
var statements = map[string]any{
	"error_mode": "ignore",
	"metric_statements": []any{map[string]any{
		"context": "datapoint",
		"statements": []any{
			`set(attributes["process.pid"], "_other_") where resource.attributes["process.executable.name"] != "proc-0"`,
		},
	}},
}

// BenchmarkUpstreamTransform measures the transform processor per datapoint at
// 10k and 100k processes.
func BenchmarkUpstreamTransform(b *testing.B) {
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(statements).Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			ctx := context.Background()
			proc, err := f.CreateMetrics(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			if err := proc.Start(ctx, componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = proc.Shutdown(ctx) }()
			hostmetricstest.Bench(b, n, func(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
				return md, proc.ConsumeMetrics(ctx, md)
			}, nil)
		})
	}
}
