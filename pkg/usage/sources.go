package usage

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileBytes bounds one dashboard or rule file.
const MaxFileBytes = 16 << 20

// maxPanelDepth bounds panel nesting (rows inside rows).
const maxPanelDepth = 8

// dashboard is the part of Grafana's dashboard JSON that carries queries,
// in both the current schema (panels, collapsed rows nesting panels) and the
// old one (rows[].panels). An exported dashboard may be wrapped in
// {"dashboard": {...}}.
type dashboard struct {
	Dashboard  *dashboard `json:"dashboard"`
	Title      string     `json:"title"`
	Panels     []panel    `json:"panels"`
	Rows       []panel    `json:"rows"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string   `json:"title"`
	Panels  []panel  `json:"panels"`
	Targets []target `json:"targets"`
}

type target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
	Hide  bool   `json:"hide"`
}

type variable struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Query   json.RawMessage `json:"query"`
	Current struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
}

// AddDashboard parses a Grafana dashboard and records its queries.
// Template variables are substituted before parsing.
func (s *Set) AddDashboard(name string, data []byte) error {
	if len(data) > MaxFileBytes {
		return fmt.Errorf("dashboard %s: larger than %d bytes", name, MaxFileBytes)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("dashboard %s: %w", name, err)
	}
	if d.Dashboard != nil {
		d = *d.Dashboard
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = variableValue(v)
	}
	sub := func(expr string) string { return substitute(expr, vars) }
	// Query variables use metrics too: label_values(metric{...}, label).
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := queryString(v.Query)
		if q == "" {
			continue
		}
		s.addVariableQuery(name+": variable "+v.Name, sub(q))
	}
	var walk func(ps []panel, depth int)
	walk = func(ps []panel, depth int) {
		if depth > maxPanelDepth {
			s.issue(name, "", fmt.Sprintf("panels nested deeper than %d levels skipped", maxPanelDepth))
			return
		}
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				s.AddExpr(fmt.Sprintf("%s: panel %q %s", name, p.Title, t.RefID), sub(t.Expr))
			}
			walk(p.Panels, depth+1)
		}
	}
	walk(d.Panels, 0)
	walk(d.Rows, 0)
	return nil
}

// queryString reads a variable's query: a string, or {"query": "..."}.
func queryString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Query
	}
	return ""
}

var (
	reLabelValues = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)
	reQueryResult = regexp.MustCompile(`^\s*query_result\(\s*(.*)\s*\)\s*$`)
)

// addVariableQuery understands Grafana's Prometheus variable functions.
func (s *Set) addVariableQuery(source, q string) {
	if m := reLabelValues.FindStringSubmatch(q); m != nil {
		// label_values(selector, label): the label is used with the metric.
		s.AddExpr(source, "sum by ("+m[2]+") ("+m[1]+")")
		return
	}
	if m := reQueryResult.FindStringSubmatch(q); m != nil {
		s.AddExpr(source, m[1])
	}
	// label_values(label) and metrics(regex) name no metric's labels.
}

// variableValue picks a stand-in that keeps PromQL valid: the current value
// when it is a plain single value, a duration for interval variables.
func variableValue(v variable) string {
	if v.Type == "interval" {
		return "5m"
	}
	var cur string
	if json.Unmarshal(v.Current.Value, &cur) == nil && cur != "" && cur != "$__all" && !strings.ContainsAny(cur, "\"\\`{}()[]") {
		return cur
	}
	return "phoenix_var"
}

// builtins are Grafana's global variables, by the value their usual
// position needs.
var builtins = map[string]string{
	"__interval": "5m", "__rate_interval": "5m", "__range": "1h", "__auto_interval": "5m",
	"__interval_ms": "300000", "__range_ms": "3600000", "__range_s": "3600",
	"__name": "phoenix_var", "__org": "1", "__user": "phoenix_var", "__dashboard": "phoenix_var",
}

// reVar matches $var, ${var}, ${var:format} and [[var]] / [[var:format]].
var reVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]|\$([A-Za-z0-9_]+)`)

func substitute(expr string, vars map[string]string) string {
	return reVar.ReplaceAllStringFunc(expr, func(m string) string {
		sm := reVar.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if strings.Trim(name, "0123456789") == "" {
			return m // $1 is a regex back-reference (label_replace), not a variable
		}
		if v, ok := builtins[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return "phoenix_var"
	})
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// AddRules parses a Prometheus rule file (recording and alerting rules).
func (s *Set) AddRules(name string, data []byte) error {
	if len(data) > MaxFileBytes {
		return fmt.Errorf("rules %s: larger than %d bytes", name, MaxFileBytes)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return fmt.Errorf("rules %s: %w", name, err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			id := r.Record
			if id == "" {
				id = r.Alert
			}
			if strings.TrimSpace(r.Expr) == "" {
				s.issue(fmt.Sprintf("%s: group %q rule %q", name, g.Name, id), "", "rule has no expr")
				continue
			}
			s.AddExpr(fmt.Sprintf("%s: group %q rule %q", name, g.Name, id), r.Expr)
		}
	}
	return nil
}
