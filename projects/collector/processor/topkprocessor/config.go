// Package topkprocessor implements phoenix_topk: per group (a host) it keeps
// the K entities (processes) with the highest rate of a metric, plus every
// entity on a critical allowlist, and rolls all the others into one `_other_`
// entity per group whose values are the sums, so totals are preserved exactly.
package topkprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Config is what users write under processors::phoenix_topk.
type Config struct {
	// Window is how often membership is re-ranked (and the unit of Decay).
	Window time.Duration `mapstructure:"window"`
	// GroupBy names the attributes (resource first, then datapoint) whose
	// values form a group; each group has its own top K and `_other_`.
	GroupBy []string `mapstructure:"group_by"`
	// EntityKeys name the attributes (resource first, then datapoint) whose
	// values identify an entity. The first one's value is the entity name that
	// Critical matches.
	EntityKeys []string `mapstructure:"entity_keys"`
	// RankMetric is the metric whose rate ranks entities: cumulative sums are
	// turned into rates, delta sums divided by their interval, gauges used as is.
	RankMetric string `mapstructure:"rank_metric"`
	// K is how many entities per group are kept on rank.
	K int `mapstructure:"k"`
	// Critical are regular expressions, fully anchored, matched on the entity
	// name; matching entities are always kept.
	Critical []string `mapstructure:"critical"`
	// Hysteresis is how long an entity must have been out of the top K before
	// it is rolled up, so entities near the boundary do not flap.
	Hysteresis time.Duration `mapstructure:"hysteresis"`
	// Decay multiplies an entity's peak rate once per window, so a past spike
	// fades instead of holding a slot forever: 0 ranks on the latest window
	// only, 1 never forgets.
	Decay float64 `mapstructure:"decay"`
	// MaxEntities bounds the entities tracked; entities beyond it are rolled up
	// and counted as refused.
	MaxEntities int `mapstructure:"max_entities"`
}

// Validate reports every problem at once, naming the YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, errors.New("window: must be positive"))
	}
	if len(c.EntityKeys) == 0 {
		errs = append(errs, errors.New("entity_keys: must name at least one attribute"))
	}
	seen := map[string]string{}
	for _, k := range c.GroupBy {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, errors.New("group_by: empty attribute name"))
		}
		seen[k] = "group_by"
	}
	for _, k := range c.EntityKeys {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, errors.New("entity_keys: empty attribute name"))
		}
		if seen[k] == "group_by" {
			errs = append(errs, fmt.Errorf("entity_keys: %q is also in group_by", k))
		}
	}
	if c.RankMetric == "" {
		errs = append(errs, errors.New("rank_metric: must not be empty"))
	}
	if c.K < 1 {
		errs = append(errs, fmt.Errorf("k: must be at least 1, got %d", c.K))
	}
	if _, err := compileCritical(c.Critical); err != nil {
		errs = append(errs, err)
	}
	if c.Hysteresis < 0 {
		errs = append(errs, errors.New("hysteresis: must not be negative"))
	}
	if c.Decay < 0 || c.Decay > 1 {
		errs = append(errs, fmt.Errorf("decay: must be within [0, 1], got %g", c.Decay))
	}
	if c.MaxEntities < 1 {
		errs = append(errs, fmt.Errorf("max_entities: must be at least 1, got %d", c.MaxEntities))
	}
	return errors.Join(errs...)
}

// compileCritical anchors every pattern and joins them into one regexp (nil
// when there are none).
func compileCritical(patterns []string) (*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	var errs []error
	parts := make([]string, 0, len(patterns))
	for i, p := range patterns {
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("critical[%d]: %w", i, err))
			continue
		}
		parts = append(parts, "(?:"+p+")")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return regexp.MustCompile("^(?:" + strings.Join(parts, "|") + ")$"), nil
}
