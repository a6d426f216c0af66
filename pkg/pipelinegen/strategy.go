package pipelinegen

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Strategy types: the building blocks a pipeline is made of.
const (
	DropMetrics       = "drop_metrics"        // filter: drop metrics by name or regex
	DropLabels        = "drop_labels"         // transform: delete attributes (resource or datapoint)
	KeepLabels        = "keep_labels"         // transform: keep only the listed attributes
	Aggregate         = "aggregate"           // phoenix_aggregate: remove labels and sum what remains
	TopK              = "topk"                // phoenix_topk: keep the top K entities plus a critical allowlist
	CardinalityCap    = "cardinality_cap"     // phoenix_cardinality_limit: cap series per metric
	ReduceResolution  = "reduce_resolution"   // phoenix_aggregate with only an interval
	CumulativeToDelta = "cumulative_to_delta" // cumulative_to_delta processor
	PriorityTiers     = "priority_tiers"      // filter + transform by regex on a process attribute
)

// StrategyTypes lists every strategy type in documentation order.
var StrategyTypes = []string{
	DropMetrics, DropLabels, KeepLabels, Aggregate, TopK, CardinalityCap, ReduceResolution, CumulativeToDelta, PriorityTiers,
}

// Scopes of attribute strategies. hostmetrics puts process.* on the resource,
// so resource is the default.
const (
	ScopeResource  = "resource"
	ScopeDatapoint = "datapoint"
)

// Strategy is one parameterized building block. Only the fields of its Type
// apply; the others must be empty (Validate says which).
type Strategy struct {
	Type string `json:"type"`
	// ID names the strategy's processors (`transform/<id>`); default: the
	// type, numbered when a type repeats.
	ID string `json:"id,omitempty"`

	// drop_metrics: exact names and fully anchored regexes. drop_labels,
	// keep_labels and cumulative_to_delta: restrict to these metric names
	// (empty: every metric).
	Metrics     []string `json:"metrics,omitempty"`
	MetricRegex []string `json:"metric_regex,omitempty"`

	// drop_labels, keep_labels, aggregate: attribute keys.
	Labels []string `json:"labels,omitempty"`
	// drop_labels, keep_labels: resource (default) or datapoint.
	Scope string `json:"scope,omitempty"`

	// aggregate, reduce_resolution: output interval (duration) and the
	// function for gauges (sum, avg, min, max).
	Interval  string `json:"interval,omitempty"`
	GaugeFunc string `json:"gauge_func,omitempty"`

	// topk.
	K          int      `json:"k,omitempty"`
	Window     string   `json:"window,omitempty"`
	GroupBy    []string `json:"group_by,omitempty"`
	EntityKeys []string `json:"entity_keys,omitempty"`
	RankMetric string   `json:"rank_metric,omitempty"`
	Critical   []string `json:"critical,omitempty"` // fully anchored regexes, never rolled up
	Hysteresis string   `json:"hysteresis,omitempty"`
	Decay      *float64 `json:"decay,omitempty"`

	// cardinality_cap.
	Limit         int      `json:"limit,omitempty"`
	Action        string   `json:"action,omitempty"` // fold or drop
	NeverDrop     []string `json:"never_drop,omitempty"`
	ResetInterval string   `json:"reset_interval,omitempty"`

	// priority_tiers.
	Tiers *Tiers `json:"tiers,omitempty"`
}

// Tiers sorts processes into priority tiers by a fully anchored regex on one
// attribute. A process matching several tiers belongs to the highest.
// critical and high pass untouched; medium loses MediumDropLabels; low is
// dropped.
type Tiers struct {
	Attribute        string   `json:"attribute,omitempty"` // default process.executable.name
	Critical         string   `json:"critical,omitempty"`
	High             string   `json:"high,omitempty"`
	Medium           string   `json:"medium,omitempty"`
	Low              string   `json:"low,omitempty"`
	MediumDropLabels []string `json:"medium_drop_labels,omitempty"`
}

// Defaults the generator writes explicitly so a config reads the same
// whatever a processor's own defaults become.
const (
	DefaultTierAttribute = "process.executable.name"
	DefaultTopKWindow    = "60s"
	DefaultRankMetric    = "process.cpu.time"
)

// DefaultEntityKeys identify a process in hostmetrics data.
var DefaultEntityKeys = []string{"process.executable.name", "process.pid"}

// DefaultMediumDropLabels are the per-process identity labels a medium tier
// loses.
var DefaultMediumDropLabels = []string{"process.pid", "process.parent_pid", "process.command_line", "process.command"}

// processor is one generated processor: its component id and config.
type processor struct {
	id   string // type/name
	body *yaml.Node
}

// validate reports every problem of s at once, with paths under prefix.
func (s *Strategy) validate(prefix string) []problem.FieldError {
	var errs []problem.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, problem.FieldError{Path: prefix + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	if s.ID != "" && !validID.MatchString(s.ID) {
		bad("id", "must match %s", validID)
	}
	set := s.setFields()
	allowed, ok := allowedFields[s.Type]
	if !ok {
		errs = append(errs, problem.FieldError{Path: prefix + ".type", Message: fmt.Sprintf("unknown strategy type %q (known: %s)", s.Type, strings.Join(StrategyTypes, ", "))})
		return errs
	}
	for _, f := range set {
		if !slices.Contains(allowed, f) {
			bad(f, "does not apply to strategy type %s", s.Type)
		}
	}
	checkLabels := func(field string, labels []string, required bool) {
		if required && len(labels) == 0 {
			bad(field, "at least one is required")
		}
		for i, l := range labels {
			if strings.TrimSpace(l) == "" {
				bad(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
			}
		}
	}
	checkRegexes := func(field string, res []string) {
		for i, re := range res {
			if _, err := regexp.Compile(anchor(re)); err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "invalid regex: %v", err)
			}
		}
	}
	checkDuration := func(field, v string) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		// A zero hysteresis is meaningful (re-rank without delay); zero
		// windows and intervals are not.
		if err != nil || d < 0 || (d == 0 && field != "hysteresis") {
			bad(field, "must be a positive duration such as 60s, got %q", v)
		}
	}
	checkScope := func() {
		if s.Scope != "" && s.Scope != ScopeResource && s.Scope != ScopeDatapoint {
			bad("scope", "must be resource or datapoint, got %q", s.Scope)
		}
	}
	checkGauge := func() {
		if s.GaugeFunc != "" && !slices.Contains([]string{"sum", "avg", "min", "max"}, s.GaugeFunc) {
			bad("gauge_func", "must be sum, avg, min or max, got %q", s.GaugeFunc)
		}
	}
	switch s.Type {
	case DropMetrics:
		if len(s.Metrics) == 0 && len(s.MetricRegex) == 0 {
			bad("metrics", "name at least one metric or metric_regex")
		}
		checkLabels("metrics", s.Metrics, false)
		checkRegexes("metric_regex", s.MetricRegex)
	case DropLabels, KeepLabels:
		checkLabels("labels", s.Labels, true)
		checkLabels("metrics", s.Metrics, false)
		checkScope()
	case Aggregate:
		checkLabels("labels", s.Labels, true)
		checkDuration("interval", s.Interval)
		checkGauge()
	case ReduceResolution:
		if s.Interval == "" {
			bad("interval", "is required")
		}
		checkDuration("interval", s.Interval)
		checkGauge()
	case TopK:
		if s.K < 1 {
			bad("k", "must be at least 1")
		}
		checkDuration("window", s.Window)
		checkDuration("hysteresis", s.Hysteresis)
		checkLabels("group_by", s.GroupBy, false)
		checkLabels("entity_keys", s.EntityKeys, false)
		checkRegexes("critical", s.Critical)
		if s.Decay != nil && (*s.Decay < 0 || *s.Decay > 1) {
			bad("decay", "must be between 0 and 1")
		}
	case CardinalityCap:
		if s.Limit < 1 {
			bad("limit", "must be at least 1")
		}
		if s.Action != "" && s.Action != "fold" && s.Action != "drop" {
			bad("action", "must be fold or drop, got %q", s.Action)
		}
		checkLabels("never_drop", s.NeverDrop, false)
		checkDuration("reset_interval", s.ResetInterval)
	case CumulativeToDelta:
		checkLabels("metrics", s.Metrics, false)
	case PriorityTiers:
		if s.Tiers == nil {
			bad("tiers", "is required")
			break
		}
		t := s.Tiers
		if t.Medium == "" && t.Low == "" {
			bad("tiers", "set medium or low: critical and high alone change nothing")
		}
		for _, f := range []struct{ name, re string }{{"critical", t.Critical}, {"high", t.High}, {"medium", t.Medium}, {"low", t.Low}} {
			if f.re == "" {
				continue
			}
			if _, err := regexp.Compile(anchor(f.re)); err != nil {
				bad("tiers."+f.name, "invalid regex: %v", err)
			}
		}
		checkLabels("tiers.medium_drop_labels", t.MediumDropLabels, false)
	}
	return errs
}

// validID keeps processor names simple: the collector's id grammar allows
// more, but these stay readable in `processors::transform/<id>` paths.
var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// allowedFields says which fields each type reads (JSON names).
var allowedFields = map[string][]string{
	DropMetrics:       {"metrics", "metric_regex"},
	DropLabels:        {"labels", "scope", "metrics"},
	KeepLabels:        {"labels", "scope", "metrics"},
	Aggregate:         {"labels", "interval", "gauge_func"},
	ReduceResolution:  {"interval", "gauge_func"},
	TopK:              {"k", "window", "group_by", "entity_keys", "rank_metric", "critical", "hysteresis", "decay"},
	CardinalityCap:    {"limit", "action", "never_drop", "reset_interval"},
	CumulativeToDelta: {"metrics"},
	PriorityTiers:     {"tiers"},
}

// setFields names the non-empty type-specific fields.
func (s *Strategy) setFields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"metrics", len(s.Metrics) > 0}, {"metric_regex", len(s.MetricRegex) > 0}, {"labels", len(s.Labels) > 0},
		{"scope", s.Scope != ""}, {"interval", s.Interval != ""}, {"gauge_func", s.GaugeFunc != ""},
		{"k", s.K != 0}, {"window", s.Window != ""}, {"group_by", len(s.GroupBy) > 0},
		{"entity_keys", len(s.EntityKeys) > 0}, {"rank_metric", s.RankMetric != ""}, {"critical", len(s.Critical) > 0},
		{"hysteresis", s.Hysteresis != ""}, {"decay", s.Decay != nil}, {"limit", s.Limit != 0},
		{"action", s.Action != ""}, {"never_drop", len(s.NeverDrop) > 0}, {"reset_interval", s.ResetInterval != ""},
		{"tiers", s.Tiers != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// anchor makes a regex match whole values only, as every Phoenix regex does.
func anchor(re string) string { return "^(?:" + re + ")$" }

// ottlString quotes s as an OTTL string literal.
func ottlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// processors turns a validated strategy into collector processors. name is
// the processor name part (`<type>/<name>`).
func (s *Strategy) processors(name string) []processor {
	switch s.Type {
	case DropMetrics:
		var conds []string
		for _, m := range s.Metrics {
			conds = append(conds, "name == "+ottlString(m))
		}
		for _, re := range s.MetricRegex {
			conds = append(conds, "IsMatch(name, "+ottlString(anchor(re))+")")
		}
		// filter drops what matches: each condition names what goes.
		return []processor{{id: "filter/" + name, body: mapping(
			"error_mode", "ignore",
			"metrics", mapping("metric", conds),
		)}}
	case DropLabels, KeepLabels:
		scope := s.Scope
		if scope == "" {
			scope = ScopeResource
		}
		var stmts []string
		where := metricWhere(s.Metrics, scope)
		if s.Type == DropLabels {
			for _, l := range s.Labels {
				stmts = append(stmts, "delete_key(attributes, "+ottlString(l)+")"+where)
			}
		} else {
			quoted := make([]string, len(s.Labels))
			for i, l := range s.Labels {
				quoted[i] = ottlString(l)
			}
			stmts = append(stmts, "keep_keys(attributes, ["+strings.Join(quoted, ", ")+"])"+where)
		}
		return []processor{{id: "transform/" + name, body: mapping(
			"error_mode", "ignore",
			"metric_statements", seq(mapping("context", scope, "statements", stmts)),
		)}}
	case Aggregate, ReduceResolution:
		body := mapping()
		if s.Interval != "" {
			add(body, "interval", s.Interval)
		}
		if len(s.Labels) > 0 {
			add(body, "remove_labels", s.Labels)
		}
		if s.GaugeFunc != "" {
			add(body, "gauge_func", s.GaugeFunc)
		}
		return []processor{{id: "phoenix_aggregate/" + name, body: orEmpty(body)}}
	case TopK:
		body := mapping()
		if s.Window != "" {
			add(body, "window", s.Window)
		}
		if len(s.GroupBy) > 0 {
			add(body, "group_by", s.GroupBy)
		}
		if len(s.EntityKeys) > 0 {
			add(body, "entity_keys", s.EntityKeys)
		}
		if s.RankMetric != "" {
			add(body, "rank_metric", s.RankMetric)
		}
		add(body, "k", s.K)
		if len(s.Critical) > 0 {
			add(body, "critical", s.Critical)
		}
		if s.Hysteresis != "" {
			add(body, "hysteresis", s.Hysteresis)
		}
		if s.Decay != nil {
			add(body, "decay", *s.Decay)
		}
		return []processor{{id: "phoenix_topk/" + name, body: body}}
	case CardinalityCap:
		body := mapping("limit", s.Limit)
		if s.Action != "" {
			add(body, "action", s.Action)
		}
		if len(s.NeverDrop) > 0 {
			add(body, "never_drop", s.NeverDrop)
		}
		if s.ResetInterval != "" {
			add(body, "reset_interval", s.ResetInterval)
		}
		return []processor{{id: "phoenix_cardinality_limit/" + name, body: body}}
	case CumulativeToDelta:
		body := mapping()
		if len(s.Metrics) > 0 {
			add(body, "include", mapping("metrics", s.Metrics, "match_type", "strict"))
		}
		return []processor{{id: "cumulative_to_delta/" + name, body: orEmpty(body)}}
	case PriorityTiers:
		return s.Tiers.processors(name)
	}
	return nil
}

// metricWhere restricts a transform statement to some metrics. In the
// resource context there is no metric to test, so the restriction applies
// only to datapoints.
func metricWhere(metrics []string, scope string) string {
	if len(metrics) == 0 || scope != ScopeDatapoint {
		return ""
	}
	conds := make([]string, len(metrics))
	for i, m := range metrics {
		conds[i] = "metric.name == " + ottlString(m)
	}
	return " where " + strings.Join(conds, " or ")
}

func orEmpty(n *yaml.Node) *yaml.Node {
	if len(n.Content) == 0 {
		return emptyMap()
	}
	return n
}

// processors for tiers: a transform that strips identity labels from the
// medium tier and a filter that drops the low tier. Higher tiers are
// excluded explicitly so a process matching several tiers gets the
// treatment of the highest.
func (t *Tiers) processors(name string) []processor {
	attr := t.Attribute
	if attr == "" {
		attr = DefaultTierAttribute
	}
	val := "attributes[" + ottlString(attr) + "]"
	match := func(re string) string { return "IsMatch(" + val + ", " + ottlString(anchor(re)) + ")" }
	in := func(re string, above ...string) string {
		c := match(re)
		for _, a := range above {
			if a != "" {
				c += " and not " + match(a)
			}
		}
		return c
	}
	var out []processor
	if t.Medium != "" {
		labels := t.MediumDropLabels
		if len(labels) == 0 {
			labels = DefaultMediumDropLabels
		}
		cond := in(t.Medium, t.Critical, t.High)
		stmts := make([]string, len(labels))
		for i, l := range labels {
			stmts[i] = "delete_key(attributes, " + ottlString(l) + ") where " + cond
		}
		out = append(out, processor{id: "transform/" + name + "-medium", body: mapping(
			"error_mode", "ignore",
			"metric_statements", seq(mapping("context", ScopeResource, "statements", stmts)),
		)})
	}
	if t.Low != "" {
		out = append(out, processor{id: "filter/" + name + "-low", body: mapping(
			"error_mode", "ignore",
			"metrics", mapping("resource", []string{in(t.Low, t.Critical, t.High, t.Medium)}),
		)})
	}
	return out
}
