// Package selfmetrics creates the Phoenix processors' self-metrics: each
// processor declares its counters as a table instead of repeating the
// create-and-join-errors steps per counter.
package selfmetrics

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Counter declares one Int64Counter and where to store it.
type Counter struct {
	Dst         *metric.Int64Counter
	Name        string
	Description string
	Unit        string
}

// Create makes every counter on the meter of the given instrumentation
// scope, reporting all failures at once.
func Create(set component.TelemetrySettings, scope string, counters ...Counter) error {
	m := set.MeterProvider.Meter(scope)
	var err error
	for _, c := range counters {
		var e error
		*c.Dst, e = m.Int64Counter(c.Name, metric.WithDescription(c.Description), metric.WithUnit(c.Unit))
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("create self-metrics: %w", err)
	}
	return nil
}
