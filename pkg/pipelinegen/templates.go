package pipelinegen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Template is a preset: a named, documented recipe that turns a few
// parameters into an ordered list of strategies.
type Template struct {
	Name      string  `json:"name"`
	Summary   string  `json:"summary"`
	WhenToUse string  `json:"when_to_use"`
	Risk      string  `json:"risk"` // what the preset can lose
	Params    []Param `json:"params"`
	// Strategies are the strategies the defaults produce, for display.
	Strategies []Strategy `json:"strategies"`

	build func(p params) []Strategy
}

// Param is one `--set key=value` a template accepts.
type Param struct {
	Name        string `json:"name"`
	Default     string `json:"default"`
	Description string `json:"description"`
}

// Default parameter values shared by the presets.
const (
	// DefaultCritical are processes no preset ever rolls up or drops: the
	// ones an on-call engineer looks at first when a host misbehaves.
	DefaultCritical = "systemd|sshd|kubelet|containerd|dockerd|phoenix|phoenix-collector"
	// DefaultIdentityLabels are the per-process labels that make hostmetrics
	// expensive: they change with every restart.
	DefaultIdentityLabels = "process.pid,process.parent_pid,process.command_line,process.command"
	// DefaultLowTier are kernel threads: many, short-lived, rarely looked at.
	DefaultLowTier = `kworker/.*|ksoftirqd/.*|migration/.*|rcu_.*|cpuhp/.*|idle_inject/.*|irq/.*|watchdog/.*`
	// DefaultNoisyMetrics are process metrics with little diagnostic value per series.
	DefaultNoisyMetrics = `process\.(context_switches|paging\.faults|signals_pending)`
)

var (
	pK        = Param{Name: "k", Description: "entities kept per group by phoenix_topk (the others roll up into _other_)"}
	pCritical = Param{Name: "critical", Default: DefaultCritical, Description: "regex (fully anchored) of process names that are never rolled up, capped or dropped"}
	pLabels   = Param{Name: "labels", Default: DefaultIdentityLabels, Description: "comma-separated labels aggregated away (values summed)"}
	pInterval = Param{Name: "interval", Default: "60s", Description: "output interval of phoenix_aggregate"}
	pCap      = Param{Name: "cap", Description: "series cap per metric (phoenix_cardinality_limit); 0 disables"}
	pAction   = Param{Name: "cap_action", Default: "fold", Description: "what happens beyond the cap: fold (into an overflow series) or drop"}
	pWindow   = Param{Name: "window", Default: DefaultTopKWindow, Description: "phoenix_topk ranking window"}
	pGroupBy  = Param{Name: "group_by", Default: "host.name", Description: "comma-separated labels; top K is chosen per group"}
	pRank     = Param{Name: "rank_metric", Default: DefaultRankMetric, Description: "metric whose rate ranks entities"}
	pLow      = Param{Name: "low", Default: DefaultLowTier, Description: "regex of process names in the low tier (dropped)"}
	pMedium   = Param{Name: "medium", Default: "", Description: "regex of process names in the medium tier (identity labels stripped); empty: none"}
	pDrop     = Param{Name: "drop_metrics", Default: DefaultNoisyMetrics, Description: "regex of metric names dropped; empty: none"}
)

func with(p Param, def string) Param { p.Default = def; return p }

// templates in display order.
var templates = []*Template{
	{
		Name:      "baseline",
		Summary:   "Pass-through: the data as the source sends it, only memory_limiter and batch.",
		WhenToUse: "As the control in every experiment, and to measure a stream before optimizing it.",
		Risk:      "none: nothing is removed",
		build:     func(params) []Strategy { return nil },
	},
	{
		Name:      "conservative",
		Summary:   "Aggregates per-process identity labels (pid, parent pid, command line) away; values are summed, so totals per executable are exact.",
		WhenToUse: "First step on any process-metrics stream: per-PID series churn on every restart and are rarely queried by PID.",
		Risk:      "low: per-PID drill-down is gone; per-executable totals are kept exactly",
		Params:    []Param{pLabels, pInterval, with(pCap, "0"), pAction},
		build: func(p params) []Strategy {
			return compact(
				Strategy{Type: Aggregate, Labels: p.list("labels"), Interval: p.get("interval")},
				p.capStrategy(nil),
			)
		},
	},
	{
		Name:      "balanced",
		Summary:   "Top 50 processes per host by CPU plus the critical allowlist, the rest rolled into _other_; identity labels aggregated away; a 5000-series cap per metric as a safety net.",
		WhenToUse: "The default recommendation for fleets: keeps the processes that matter on every host and bounds the long tail.",
		Risk:      "medium: processes outside the top K lose their own series (their sum survives in _other_)",
		Params:    []Param{with(pK, "50"), pCritical, pWindow, pGroupBy, pRank, pLabels, pInterval, with(pCap, "5000"), pAction},
		build: func(p params) []Strategy {
			return compact(
				p.topkStrategy(),
				Strategy{Type: Aggregate, Labels: p.list("labels"), Interval: p.get("interval")},
				p.capStrategy([]string{"host.name", "process.executable.name"}),
			)
		},
	},
	{
		Name:      "aggressive",
		Summary:   "Priority tiers (kernel threads dropped), noisy metrics dropped, top 10 processes per host plus the critical allowlist, identity labels aggregated at 60 s resolution, a 1000-series cap per metric.",
		WhenToUse: "When cost matters most and dashboards only show per-host and top-process views; prove it in an experiment first.",
		Risk:      "high: low-tier processes and noisy metrics disappear; only the top K and critical processes keep their own series",
		Params:    []Param{with(pK, "10"), pCritical, pMedium, pLow, pDrop, pWindow, pGroupBy, pRank, pLabels, pInterval, with(pCap, "1000"), pAction},
		build: func(p params) []Strategy {
			var tiers []Strategy
			if p.get("low") != "" || p.get("medium") != "" {
				tiers = append(tiers, Strategy{Type: PriorityTiers, Tiers: &Tiers{
					Attribute: DefaultTierAttribute, Critical: p.get("critical"), Medium: p.get("medium"), Low: p.get("low"),
				}})
			}
			var drop []Strategy
			if re := p.get("drop_metrics"); re != "" {
				drop = append(drop, Strategy{Type: DropMetrics, MetricRegex: []string{re}})
			}
			return compact(append(append(drop, tiers...),
				p.topkStrategy(),
				Strategy{Type: Aggregate, Labels: p.list("labels"), Interval: p.get("interval")},
				p.capStrategy([]string{"host.name", "process.executable.name"}),
			)...)
		},
	},
	{
		Name:      "topk",
		Summary:   "Only phoenix_topk: the top 10 processes per host by CPU plus the critical allowlist keep their series; the rest are summed into one _other_ entity per host.",
		WhenToUse: "To bound per-host process cardinality while keeping every label of the processes that matter.",
		Risk:      "medium: processes outside the top K lose their own series (their sum survives in _other_)",
		Params:    []Param{with(pK, "10"), pCritical, pWindow, pGroupBy, pRank},
		build:     func(p params) []Strategy { return []Strategy{p.topkStrategy()} },
	},
}

func init() {
	for _, t := range templates {
		p, _ := t.params(nil)
		t.Strategies = t.build(p)
		if t.Params == nil {
			t.Params = []Param{}
		}
		if t.Strategies == nil {
			t.Strategies = []Strategy{}
		}
	}
}

// Templates lists the presets.
func Templates() []Template {
	out := make([]Template, len(templates))
	for i, t := range templates {
		out[i] = *t
	}
	return out
}

// TemplateNames lists the presets' names.
func TemplateNames() []string {
	out := make([]string, len(templates))
	for i, t := range templates {
		out[i] = t.Name
	}
	return out
}

// LookupTemplate finds a preset by name.
func LookupTemplate(name string) (*Template, bool) {
	for _, t := range templates {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// Expand turns a template and its `--set` values into strategies, checking
// every value. path prefixes field errors (e.g. "set").
func (t *Template) Expand(set map[string]string, path string) ([]Strategy, []problem.FieldError) {
	p, errs := t.params(set)
	for i := range errs {
		errs[i].Path = path + "." + errs[i].Path
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return t.build(p), nil
}

type params map[string]string

func (p params) get(k string) string { return p[k] }

func (p params) list(k string) []string {
	var out []string
	for _, s := range strings.Split(p[k], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (p params) int(k string) int { n, _ := strconv.Atoi(p[k]); return n }

func (p params) topkStrategy() Strategy {
	s := Strategy{
		Type: TopK, K: p.int("k"), Window: p.get("window"), GroupBy: p.list("group_by"),
		EntityKeys: slices.Clone(DefaultEntityKeys), RankMetric: p.get("rank_metric"),
	}
	if c := p.get("critical"); c != "" {
		s.Critical = []string{c}
	}
	return s
}

// capStrategy is the cardinality cap, or an empty strategy when cap is 0.
func (p params) capStrategy(neverDrop []string) Strategy {
	if p.int("cap") == 0 {
		return Strategy{}
	}
	return Strategy{Type: CardinalityCap, Limit: p.int("cap"), Action: p.get("cap_action"), NeverDrop: neverDrop}
}

// compact removes empty (disabled) strategies.
func compact(ss ...Strategy) []Strategy {
	out := ss[:0]
	for _, s := range ss {
		if s.Type != "" {
			out = append(out, s)
		}
	}
	return out
}

// params merges defaults and set, checking names and values.
func (t *Template) params(set map[string]string) (params, []problem.FieldError) {
	p := params{}
	for _, d := range t.Params {
		p[d.Name] = d.Default
	}
	var errs []problem.FieldError
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := set[k]
		if _, ok := p[k]; !ok {
			names := make([]string, len(t.Params))
			for i, d := range t.Params {
				names[i] = d.Name
			}
			msg := fmt.Sprintf("template %s has no parameter %q", t.Name, k)
			if len(names) > 0 {
				msg += " (parameters: " + strings.Join(names, ", ") + ")"
			}
			errs = append(errs, problem.FieldError{Path: k, Message: msg})
			continue
		}
		if msg := checkParam(k, v); msg != "" {
			errs = append(errs, problem.FieldError{Path: k, Message: msg})
			continue
		}
		p[k] = v
	}
	return p, errs
}

// checkParam checks a value's form; strategies check the rest.
func checkParam(k, v string) string {
	switch k {
	case "k":
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return "must be a positive integer"
		}
	case "cap":
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return "must be a non-negative integer (0 disables the cap)"
		}
	case "interval", "window":
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return "must be a positive duration such as 60s"
		}
	case "cap_action":
		if v != "fold" && v != "drop" {
			return "must be fold or drop"
		}
	}
	return ""
}
