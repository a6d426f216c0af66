package aggregateprocessor

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

const scopeName = "github.com/phoenix-platform/phoenix/projects/collector/processor/aggregateprocessor"

// telemetry holds the self-metrics; per-datapoint events are counted, not logged.
type telemetry struct {
	aggregated metric.Int64Counter
	refused    metric.Int64Counter
	emitted    metric.Int64Counter
	failed     metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	var t telemetry
	var err, e error
	t.aggregated, e = m.Int64Counter("otelcol_processor_phoenix_aggregate_datapoints_aggregated",
		metric.WithDescription("Input datapoints folded into aggregated series."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	t.refused, e = m.Int64Counter("otelcol_processor_phoenix_aggregate_datapoints_refused",
		metric.WithDescription("Datapoints of new series dropped because max_series was reached."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	t.emitted, e = m.Int64Counter("otelcol_processor_phoenix_aggregate_datapoints_emitted",
		metric.WithDescription("Aggregated datapoints emitted."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	t.failed, e = m.Int64Counter("otelcol_processor_phoenix_aggregate_emit_failures",
		metric.WithDescription("Interval emissions the next consumer refused."), metric.WithUnit("{emission}"))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("create self-metrics: %w", err)
	}
	return &t, nil
}
