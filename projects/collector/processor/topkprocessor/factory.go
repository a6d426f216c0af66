package topkprocessor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// typeStr is the component type users write in configs.
const typeStr = "phoenix_topk"

// NewFactory returns the phoenix_topk processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		processor.WithMetrics(createMetrics, component.StabilityLevelAlpha),
	)
}

// createDefaultConfig is tuned for hostmetrics' process scraper: one group per
// host, one entity per process, ranked by CPU.
func createDefaultConfig() component.Config {
	return &Config{
		Window:      60 * time.Second,
		GroupBy:     []string{"host.name"},
		EntityKeys:  []string{"process.executable.name", "process.pid"},
		RankMetric:  "process.cpu.time",
		K:           10,
		Hysteresis:  30 * time.Second,
		Decay:       0.5,
		MaxEntities: 200_000,
	}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newTopK(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", typeStr, err)
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.process,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
