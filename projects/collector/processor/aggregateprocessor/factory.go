package aggregateprocessor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
)

// typeStr is the component type users write in configs.
const typeStr = "phoenix_aggregate"

// NewFactory returns the phoenix_aggregate processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		component.MustNewType(typeStr),
		createDefaultConfig,
		processor.WithMetrics(createMetrics, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		Interval:  60 * time.Second,
		GaugeFunc: GaugeSum,
		MaxSeries: 1_000_000,
	}
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	p, err := newAggregator(cfg.(*Config), set.TelemetrySettings, next)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", typeStr, err)
	}
	return p, nil
}
