package cardinalitylimitprocessor

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

const scopeName = "github.com/phoenix-platform/phoenix/projects/collector/processor/cardinalitylimitprocessor"

// telemetry holds the self-metrics; per-datapoint events are counted, not logged.
type telemetry struct {
	admitted metric.Int64Counter
	folded   metric.Int64Counter
	dropped  metric.Int64Counter
	refused  metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	var t telemetry
	var err, e error
	t.admitted, e = m.Int64Counter("otelcol_processor_phoenix_cardinality_limit_series_admitted",
		metric.WithDescription("Series admitted under a metric's limit."), metric.WithUnit("{series}"))
	err = errors.Join(err, e)
	t.folded, e = m.Int64Counter("otelcol_processor_phoenix_cardinality_limit_datapoints_folded",
		metric.WithDescription("Datapoints of series beyond the limit folded into the overflow series."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	t.dropped, e = m.Int64Counter("otelcol_processor_phoenix_cardinality_limit_datapoints_dropped",
		metric.WithDescription("Datapoints of series beyond the limit dropped."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	t.refused, e = m.Int64Counter("otelcol_processor_phoenix_cardinality_limit_metrics_refused",
		metric.WithDescription("Datapoints of metrics not tracked because max_metrics was reached (they overflow)."), metric.WithUnit("{datapoint}"))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("create self-metrics: %w", err)
	}
	return &t, nil
}
