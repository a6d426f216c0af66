// Package aggregateprocessor implements phoenix_aggregate: stateful
// aggregation that removes labels across batches and across time, which the
// upstream collector cannot do (metricstransform works within one batch).
//
// Cumulative monotonic sums are summed as the sum of each input series'
// increases since the output series started, so the output stays correct when
// input counters reset or input series start and stop. Delta sums add up per
// interval. Gauges (and non-monotonic cumulative sums, which are levels)
// combine the latest value of each input series by gauge_func. Explicit-bucket
// histograms merge bucket by bucket, the same way as sums. The result is
// emitted every interval. Exponential histograms and summaries pass through
// unchanged.
package aggregateprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// GaugeFunc combines the gauges of the series that merge into one.
type GaugeFunc string

// The gauge functions.
const (
	GaugeSum GaugeFunc = "sum"
	GaugeAvg GaugeFunc = "avg"
	GaugeMin GaugeFunc = "min"
	GaugeMax GaugeFunc = "max"
)

// Config is what users write under processors::phoenix_aggregate.
type Config struct {
	// Interval is how often aggregated series are emitted.
	Interval time.Duration `mapstructure:"interval"`
	// RemoveLabels are the attributes (resource or datapoint) aggregated away.
	RemoveLabels []string `mapstructure:"remove_labels"`
	// GaugeFunc is sum, avg, min or max.
	GaugeFunc GaugeFunc `mapstructure:"gauge_func"`
	// MaxSeries bounds the input series tracked; datapoints of further series
	// are dropped and counted as refused.
	MaxSeries int `mapstructure:"max_series"`
}

// Validate reports every problem at once, naming the YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, errors.New("interval: must be positive"))
	}
	for i, k := range c.RemoveLabels {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("remove_labels[%d]: empty attribute name", i))
		}
	}
	switch c.GaugeFunc {
	case GaugeSum, GaugeAvg, GaugeMin, GaugeMax:
	default:
		errs = append(errs, fmt.Errorf("gauge_func: must be one of sum, avg, min, max, got %q", c.GaugeFunc))
	}
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series: must be at least 1, got %d", c.MaxSeries))
	}
	return errors.Join(errs...)
}
