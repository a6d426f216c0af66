// Package cardinalitylimitprocessor implements phoenix_cardinality_limit: a
// per-metric cap on series. The first `limit` series of a metric pass (the
// set is exact); later series are folded into one overflow series per metric
// (attribute otel.metric.overflow=true, values summed) or dropped.
package cardinalitylimitprocessor

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Action is what happens to series beyond the limit.
type Action string

const (
	// ActionFold sums them into the overflow series.
	ActionFold Action = "fold"
	// ActionDrop removes them.
	ActionDrop Action = "drop"
)

// Config is what users write under processors::phoenix_cardinality_limit.
type Config struct {
	// Limit is the number of distinct series (resource plus datapoint
	// attributes) admitted per metric name.
	Limit int `mapstructure:"limit"`
	// Action is fold or drop.
	Action Action `mapstructure:"action"`
	// NeverDrop names attributes (resource or datapoint) the overflow series
	// keeps, so e.g. per-host totals survive folding.
	NeverDrop []string `mapstructure:"never_drop"`
	// ResetInterval forgets the admitted series this often so that churned
	// series free their slots; 0 never forgets.
	ResetInterval time.Duration `mapstructure:"reset_interval"`
	// MaxMetrics bounds the metric names tracked; series of further metrics
	// overflow at once and are counted as refused.
	MaxMetrics int `mapstructure:"max_metrics"`
}

// Validate reports every problem at once, naming the YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.Limit < 1 || c.Limit > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("limit: must be between 1 and %d, got %d", math.MaxInt32, c.Limit))
	}
	if c.Action != ActionFold && c.Action != ActionDrop {
		errs = append(errs, fmt.Errorf("action: must be %q or %q, got %q", ActionFold, ActionDrop, c.Action))
	}
	for i, k := range c.NeverDrop {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("never_drop[%d]: empty attribute name", i))
		}
	}
	if c.ResetInterval < 0 {
		errs = append(errs, errors.New("reset_interval: must not be negative"))
	}
	if c.MaxMetrics < 1 {
		errs = append(errs, fmt.Errorf("max_metrics: must be at least 1, got %d", c.MaxMetrics))
	}
	return errors.Join(errs...)
}
