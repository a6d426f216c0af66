package aggregateprocessor

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/selfmetrics"
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
	var t telemetry
	if err := selfmetrics.Create(set, scopeName,
		selfmetrics.Counter{Dst: &t.aggregated, Name: "otelcol_processor_phoenix_aggregate_datapoints_aggregated",
			Description: "Input datapoints folded into aggregated series.", Unit: "{datapoint}"},
		selfmetrics.Counter{Dst: &t.refused, Name: "otelcol_processor_phoenix_aggregate_datapoints_refused",
			Description: "Datapoints of new series dropped because max_series was reached.", Unit: "{datapoint}"},
		selfmetrics.Counter{Dst: &t.emitted, Name: "otelcol_processor_phoenix_aggregate_datapoints_emitted",
			Description: "Aggregated datapoints emitted.", Unit: "{datapoint}"},
		selfmetrics.Counter{Dst: &t.failed, Name: "otelcol_processor_phoenix_aggregate_emit_failures",
			Description: "Interval emissions the next consumer refused.", Unit: "{emission}"},
	); err != nil {
		return nil, err
	}
	return &t, nil
}
