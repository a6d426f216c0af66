package cardinalitylimitprocessor

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/selfmetrics"
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
	var t telemetry
	if err := selfmetrics.Create(set, scopeName,
		selfmetrics.Counter{Dst: &t.admitted, Name: "otelcol_processor_phoenix_cardinality_limit_series_admitted",
			Description: "Series admitted under a metric's limit.", Unit: "{series}"},
		selfmetrics.Counter{Dst: &t.folded, Name: "otelcol_processor_phoenix_cardinality_limit_datapoints_folded",
			Description: "Datapoints of series beyond the limit folded into the overflow series.", Unit: "{datapoint}"},
		selfmetrics.Counter{Dst: &t.dropped, Name: "otelcol_processor_phoenix_cardinality_limit_datapoints_dropped",
			Description: "Datapoints of series beyond the limit dropped.", Unit: "{datapoint}"},
		selfmetrics.Counter{Dst: &t.refused, Name: "otelcol_processor_phoenix_cardinality_limit_metrics_refused",
			Description: "Datapoints of metrics not tracked because max_metrics was reached (they overflow).", Unit: "{datapoint}"},
	); err != nil {
		return nil, err
	}
	return &t, nil
}
