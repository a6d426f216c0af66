package topkprocessor

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/selfmetrics"
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
	var t telemetry
	if err := selfmetrics.Create(set, scopeName,
		selfmetrics.Counter{Dst: &t.seen, Name: "otelcol_processor_phoenix_topk_entities_seen",
			Description: "Entities seen for the first time.", Unit: "{entity}"},
		selfmetrics.Counter{Dst: &t.kept, Name: "otelcol_processor_phoenix_topk_entities_kept",
			Description: "Entities passed through unchanged, counted once per batch.", Unit: "{entity}"},
		selfmetrics.Counter{Dst: &t.rolledUp, Name: "otelcol_processor_phoenix_topk_entities_rolled_up",
			Description: "Entities rolled into _other_, counted once per batch.", Unit: "{entity}"},
		selfmetrics.Counter{Dst: &t.refused, Name: "otelcol_processor_phoenix_topk_entities_refused",
			Description: "New entities not tracked because max_entities was reached (they are rolled up).", Unit: "{entity}"},
	); err != nil {
		return nil, err
	}
	return &t, nil
}
