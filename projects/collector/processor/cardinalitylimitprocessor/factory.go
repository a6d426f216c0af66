package cardinalitylimitprocessor

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
const typeStr = "phoenix_cardinality_limit"

// NewFactory returns the phoenix_cardinality_limit processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		processor.WithMetrics(createMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Limit:         1000,
		Action:        ActionFold,
		ResetInterval: time.Hour,
		MaxMetrics:    10_000,
	}
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newLimiter(cfg.(*Config), set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", typeStr, err)
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.process,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
