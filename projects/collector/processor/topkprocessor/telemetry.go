package topkprocessor

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// scopeName is the instrumentation scope of the self-metrics.
const scopeName = "github.com/phoenix-platform/phoenix/projects/collector/processor/topkprocessor"

// telemetry holds the processor's self-metrics: per-item events are counted,
// never logged, on the hot path.
type telemetry struct {
	seen     metric.Int64Counter
	kept     metric.Int64Counter
	rolledUp metric.Int64Counter
	refused  metric.Int64Counter
}

func newTelemetry(set component.TelemetrySettings) (*telemetry, error) {
	m := set.MeterProvider.Meter(scopeName)
	var t telemetry
	var err, e error
	t.seen, e = m.Int64Counter("otelcol_processor_phoenix_topk_entities_seen",
		metric.WithDescription("Entities seen for the first time."), metric.WithUnit("{entity}"))
	err = errors.Join(err, e)
	t.kept, e = m.Int64Counter("otelcol_processor_phoenix_topk_entities_kept",
		metric.WithDescription("Entities passed through unchanged, counted once per batch."), metric.WithUnit("{entity}"))
	err = errors.Join(err, e)
	t.rolledUp, e = m.Int64Counter("otelcol_processor_phoenix_topk_entities_rolled_up",
		metric.WithDescription("Entities rolled into _other_, counted once per batch."), metric.WithUnit("{entity}"))
	err = errors.Join(err, e)
	t.refused, e = m.Int64Counter("otelcol_processor_phoenix_topk_entities_refused",
		metric.WithDescription("New entities not tracked because max_entities was reached (they are rolled up)."), metric.WithUnit("{entity}"))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("create self-metrics: %w", err)
	}
	return &t, nil
}
