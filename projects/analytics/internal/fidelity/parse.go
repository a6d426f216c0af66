// Package fidelity compares a candidate stream to its baseline: critical
// entity retention, aggregate error, and series, datapoint, byte and cost
// reductions. Critical matchers and aggregates use PromQL syntax, with OTel's
// dotted names either bare (`process.executable.name=~"nginx"`) or quoted
// (`sum({"process.cpu.time"}) by ("host.name")`), parsed here by a small
// parser of the subset Phoenix evaluates.
package fidelity

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MatchOp is a label matcher operator.
type MatchOp string

// Matcher operators.
const (
	OpEq  MatchOp = "="
	OpNe  MatchOp = "!="
	OpRe  MatchOp = "=~"
	OpNre MatchOp = "!~"
)

// Matcher is one label matcher; regexes are fully anchored, as in PromQL.
type Matcher struct {
	Name  string
	Op    MatchOp
	Value string
	re    *regexp.Regexp
}

// Matches reports whether a label value (present says whether the label
// exists; an absent label matches as "", as in PromQL) satisfies m.
func (m *Matcher) Matches(v string) bool {
	switch m.Op {
	case OpEq:
		return v == m.Value
	case OpNe:
		return v != m.Value
	case OpRe:
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

func (m Matcher) String() string {
	return strconv.Quote(m.Name) + string(m.Op) + strconv.Quote(m.Value)
}

// Aggregate is a parsed aggregation: Op(metric{matchers}) by|without (labels).
type Aggregate struct {
	Op       string // sum, avg, max, min, count
	Metric   string
	Matchers []Matcher
	Without  bool
	Grouping []string
}

// maxExprLen bounds what the parser accepts.
const maxExprLen = 4096

type lexer struct {
	s   string
	pos int
}

func (l *lexer) skip() {
	for l.pos < len(l.s) && (l.s[l.pos] == ' ' || l.s[l.pos] == '\t' || l.s[l.pos] == '\n') {
		l.pos++
	}
}

func (l *lexer) peek() byte {
	l.skip()
	if l.pos >= len(l.s) {
		return 0
	}
	return l.s[l.pos]
}

func (l *lexer) errf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", l.pos, fmt.Sprintf(format, args...))
}

func (l *lexer) expect(c byte) error {
	if l.peek() != c {
		if l.pos >= len(l.s) {
			return l.errf("expected %q, found end of input", c)
		}
		return l.errf("expected %q, found %q", c, l.s[l.pos])
	}
	l.pos++
	return nil
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isNameChar(r rune) bool {
	return r == '_' || r == '.' || r == ':' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// name reads a bare name (dots allowed, for OTel names) or a quoted string.
func (l *lexer) name() (string, error) {
	c := l.peek()
	if c == '"' || c == '\'' || c == '`' {
		return l.str()
	}
	start := l.pos
	for l.pos < len(l.s) {
		r, n := utf8.DecodeRuneInString(l.s[l.pos:])
		if l.pos == start && !isNameStart(r) || l.pos > start && !isNameChar(r) {
			break
		}
		l.pos += n
	}
	if l.pos == start {
		if l.pos >= len(l.s) {
			return "", l.errf("expected a name, found end of input")
		}
		return "", l.errf("expected a name, found %q", l.s[l.pos])
	}
	return l.s[start:l.pos], nil
}

func (l *lexer) str() (string, error) {
	q := l.peek()
	if q != '"' && q != '\'' && q != '`' {
		return "", l.errf("expected a quoted string")
	}
	start := l.pos
	l.pos++
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		if c == '\\' && q != '`' {
			l.pos += 2
			continue
		}
		if c == q {
			l.pos++
			raw := l.s[start:l.pos]
			if q == '`' {
				return raw[1 : len(raw)-1], nil
			}
			if q == '\'' {
				raw = `"` + strings.ReplaceAll(strings.ReplaceAll(raw[1:len(raw)-1], `\'`, `'`), `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(raw)
			if err != nil {
				return "", l.errf("bad string %s: %v", l.s[start:l.pos], err)
			}
			return v, nil
		}
		l.pos++
	}
	l.pos = start
	return "", l.errf("unterminated string")
}

func (l *lexer) op() (MatchOp, error) {
	l.skip()
	for _, op := range []MatchOp{OpRe, OpNre, OpNe, OpEq} {
		if strings.HasPrefix(l.s[l.pos:], string(op)) {
			l.pos += len(op)
			return op, nil
		}
	}
	return "", l.errf("expected one of =, !=, =~, !~")
}

func newMatcher(name string, op MatchOp, v string) (Matcher, error) {
	m := Matcher{Name: name, Op: op, Value: v}
	if op == OpRe || op == OpNre {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return m, fmt.Errorf("matcher %s: bad regex: %w", name, err)
		}
		m.re = re
	}
	return m, nil
}

// matchers reads `name op "value"` items separated by commas until end or '}'.
func (l *lexer) matchers(closing byte) ([]Matcher, error) {
	var out []Matcher
	for {
		c := l.peek()
		if c == closing {
			return out, nil
		}
		n, err := l.name()
		if err != nil {
			return nil, err
		}
		// In braces, a lone quoted string is the metric name: {"m", a="b"}.
		if nc := l.peek(); closing == '}' && (nc == ',' || nc == '}') {
			out = append(out, Matcher{Name: "__name__", Op: OpEq, Value: n})
		} else {
			op, err := l.op()
			if err != nil {
				return nil, err
			}
			v, err := l.str()
			if err != nil {
				return nil, err
			}
			m, err := newMatcher(n, op, v)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		if l.peek() == ',' {
			l.pos++
			continue
		}
		if l.peek() != closing {
			if l.pos >= len(l.s) {
				return nil, l.errf("expected ',' or end, found end of input")
			}
			return nil, l.errf("expected ',' or %q, found %q", closing, l.s[l.pos])
		}
	}
}

// ParseMatchers parses a critical matcher list: `a="x", b=~"y"`, optionally
// in braces.
func ParseMatchers(s string) ([]Matcher, error) {
	if len(s) > maxExprLen {
		return nil, fmt.Errorf("matcher longer than %d bytes", maxExprLen)
	}
	l := &lexer{s: s}
	braced := l.peek() == '{'
	if braced {
		l.pos++
	}
	closing := byte(0)
	if braced {
		closing = '}'
	}
	ms, err := l.matchers(closing)
	if err != nil {
		return nil, err
	}
	if braced {
		l.pos++
	}
	if l.peek() != 0 {
		return nil, l.errf("unexpected %q after the matchers", l.s[l.pos])
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no matchers")
	}
	for _, m := range ms {
		if m.Name == "__name__" && m.Op == OpEq && m.re == nil && closing == 0 {
			return nil, fmt.Errorf("matcher %q has no operator", m.Name)
		}
	}
	return ms, nil
}

var aggOps = map[string]bool{"sum": true, "avg": true, "max": true, "min": true, "count": true}

// ParseAggregate parses `op(selector) [by|without (labels)]` or
// `op [by|without (labels)] (selector)`.
func ParseAggregate(s string) (Aggregate, error) {
	var a Aggregate
	if len(s) > maxExprLen {
		return a, fmt.Errorf("aggregate longer than %d bytes", maxExprLen)
	}
	l := &lexer{s: s}
	op, err := l.name()
	if err != nil {
		return a, err
	}
	if !aggOps[op] {
		return a, fmt.Errorf("unsupported aggregation %q (use sum, avg, max, min or count)", op)
	}
	a.Op = op
	grouping := func() error {
		l.skip()
		save := l.pos
		kw, err := l.name()
		if err != nil || kw != "by" && kw != "without" {
			l.pos = save
			return nil
		}
		a.Without = kw == "without"
		if err := l.expect('('); err != nil {
			return err
		}
		for l.peek() != ')' {
			n, err := l.name()
			if err != nil {
				return err
			}
			a.Grouping = append(a.Grouping, n)
			if l.peek() == ',' {
				l.pos++
			}
		}
		l.pos++
		return nil
	}
	if err := grouping(); err != nil {
		return a, err
	}
	if err := l.expect('('); err != nil {
		return a, err
	}
	if l.peek() != '{' {
		if a.Metric, err = l.name(); err != nil {
			return a, err
		}
	}
	if l.peek() == '{' {
		l.pos++
		ms, err := l.matchers('}')
		if err != nil {
			return a, err
		}
		l.pos++
		for _, m := range ms {
			if m.Name == "__name__" && m.Op == OpEq {
				if a.Metric != "" && a.Metric != m.Value {
					return a, fmt.Errorf("metric named twice: %q and %q", a.Metric, m.Value)
				}
				a.Metric = m.Value
				continue
			}
			a.Matchers = append(a.Matchers, m)
		}
	}
	if a.Metric == "" {
		return a, fmt.Errorf("aggregate needs a metric name")
	}
	if err := l.expect(')'); err != nil {
		return a, err
	}
	if len(a.Grouping) == 0 && !a.Without {
		if err := grouping(); err != nil {
			return a, err
		}
	}
	if l.peek() != 0 {
		return a, l.errf("unexpected %q after the aggregate", l.s[l.pos])
	}
	return a, nil
}
