package fidelity

import (
	"reflect"
	"testing"
)

func TestParseAggregate(t *testing.T) {
	cases := []struct {
		in   string
		want Aggregate
		err  bool
	}{
		{in: `sum({"process.cpu.time"}) by ("host.name")`, want: Aggregate{Op: "sum", Metric: "process.cpu.time", Grouping: []string{"host.name"}}},
		{in: `sum(process.cpu.time) by (host.name)`, want: Aggregate{Op: "sum", Metric: "process.cpu.time", Grouping: []string{"host.name"}}},
		{in: `avg by ("host.name", state) ({"process.cpu.time", state="user"})`, want: Aggregate{Op: "avg", Metric: "process.cpu.time", Grouping: []string{"host.name", "state"},
			Matchers: []Matcher{{Name: "state", Op: OpEq, Value: "user"}}}},
		{in: `max(up{job="a"}) without (instance)`, want: Aggregate{Op: "max", Metric: "up", Without: true, Grouping: []string{"instance"},
			Matchers: []Matcher{{Name: "job", Op: OpEq, Value: "a"}}}},
		{in: `count({__name__="up"})`, want: Aggregate{Op: "count", Metric: "up"}},
		{in: `rate(up[5m])`, err: true},
		{in: `sum(up`, err: true},
		{in: `sum({job="a"})`, err: true},
		{in: `sum(up) by (a) extra`, err: true},
		{in: `sum(up{job=~"("})`, err: true},
	}
	for _, c := range cases {
		got, err := ParseAggregate(c.in)
		if c.err {
			if err == nil {
				t.Errorf("%s: accepted as %+v", c.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		for i := range got.Matchers {
			got.Matchers[i].re = nil
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestParseMatchers(t *testing.T) {
	ms, err := ParseMatchers(`process.executable.name=~"nginx|postgres"`)
	if err != nil || len(ms) != 1 || !ms[0].Matches("nginx") || ms[0].Matches("nginx2") {
		t.Fatalf("%+v %v", ms, err)
	}
	ms, err = ParseMatchers(`{"host.name"!="a", env!~'dev|test'}`)
	if err != nil || len(ms) != 2 || !ms[1].Matches("prod") || ms[1].Matches("dev") {
		t.Fatalf("%+v %v", ms, err)
	}
	for _, bad := range []string{``, `a`, `a=`, `a="x" b="y"`, `a=~"["`, `{a="x"`, `"unterminated`, `a="x"}`} {
		if _, err := ParseMatchers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`sum({"process.cpu.time"}) by ("host.name")`, `avg by (a) (m{b=~"x|y"})`,
		`process.executable.name=~"nginx|postgres"`, `{a="\"q\"", b!~'x'}`, "count(`m`)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := ParseAggregate(s); err == nil && (a.Metric == "" || !aggOps[a.Op]) {
			t.Fatalf("accepted %q without metric or op: %+v", s, a)
		}
		if ms, err := ParseMatchers(s); err == nil {
			for _, m := range ms {
				if (m.Op == OpRe || m.Op == OpNre) && m.re == nil {
					t.Fatalf("regex matcher without regex: %q", s)
				}
				_ = m.Matches("x")
			}
		}
	})
}
