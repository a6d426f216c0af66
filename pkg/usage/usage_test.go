package usage

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadFixtures(t *testing.T) *Set {
	t.Helper()
	s := NewSet()
	dash, _ := filepath.Glob("testdata/dashboards/*.json")
	rules, _ := filepath.Glob("testdata/rules/*.yaml")
	if len(dash) == 0 || len(rules) == 0 {
		t.Fatal("fixtures missing")
	}
	for _, f := range dash {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddDashboard(filepath.Base(f), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range rules {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddRules(filepath.Base(f), b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestFixtureUsage(t *testing.T) {
	s := loadFixtures(t)
	cases := []struct {
		metric   string
		all      bool     // every label used
		used     []string // labels that must count as used
		unused   []string // labels that must not
		notFound bool
	}{
		// node-exporter style: bare selectors and vector matching on all labels.
		{metric: "node_cpu_seconds_total", all: true},
		{metric: "node_load1", all: true},
		{metric: "node_memory_MemTotal_bytes", all: true},
		{metric: "node_uname_info", used: []string{"job", "instance"}, unused: []string{"nodename"}},
		{metric: "node_filesystem_avail_bytes", all: true},
		{metric: "node_disk_read_bytes_total", all: true},
		{metric: "node_disk_io_time_seconds_total", all: true},
		{metric: "node_timex_offset_seconds", all: true},
		// hostmetrics: aggregations keep only their grouping labels and matchers.
		{metric: "process_cpu_time_seconds_total", used: []string{"host_name", "process_executable_name"}, unused: []string{"process_pid", "process_command_line", "state"}},
		{metric: "process_memory_usage_bytes", used: []string{"host_name", "process_executable_name", "process_owner", "owner"}, unused: []string{"process_pid"}},
		{metric: "system_cpu_time_seconds_total", used: []string{"host_name", "state"}, unused: []string{"cpu"}},
		{metric: "system_memory_usage_bytes", used: []string{"host_name", "state"}, unused: []string{"device"}},
		// without(...): every label but the listed ones.
		{metric: "process_threads", used: []string{"host_name", "process_executable_name"}, unused: []string{"process_pid", "process_parent_pid", "process_command_line"}},
		// __name__ regex matchers.
		{metric: "process_disk_operations_total", used: []string{"host_name", "direction"}, unused: []string{"process_pid"}},
		{metric: "process_disk_io_bytes_total", used: []string{"direction"}},
		{metric: "up", all: true},
		{metric: "process_open_file_descriptors", notFound: true},
		{metric: "process_context_switches_total", notFound: true},
	}
	for _, c := range cases {
		t.Run(c.metric, func(t *testing.T) {
			u := s.Lookup(c.metric)
			if c.notFound {
				if u != nil {
					t.Fatalf("%s counted as used: %+v", c.metric, u)
				}
				return
			}
			if u == nil {
				t.Fatalf("%s not found among %v", c.metric, s.MetricNames())
			}
			if c.all && (!u.All || len(u.Except) > 0) {
				t.Errorf("want every label used, got %+v", u)
			}
			for _, l := range c.used {
				if !u.Uses(l) {
					t.Errorf("label %s should be used: %+v", l, u)
				}
			}
			for _, l := range c.unused {
				if u.Uses(l) {
					t.Errorf("label %s should be unused: %+v", l, u)
				}
			}
		})
	}
	if s.Exprs < 20 {
		t.Errorf("parsed %d expressions, want at least 20", s.Exprs)
	}
	var broken bool
	for _, is := range s.Issues {
		if strings.Contains(is.Source, "BrokenRule") {
			broken = true
		}
	}
	if !broken {
		t.Errorf("the broken rule was not reported: %+v", s.Issues)
	}
	// Recorded series are metrics too (rules use each other's output).
	if !slices.Contains(s.MetricNames(), "instance:node_num_cpu:sum") {
		t.Errorf("recording rule output not seen: %v", s.MetricNames())
	}
}

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"job": "node", "instance": "phoenix_var"}
	cases := map[string]string{
		`rate(x{job="$job"}[$__rate_interval])`:    `rate(x{job="node"}[5m])`,
		`rate(x{job="${job}"}[${__interval}])`:     `rate(x{job="node"}[5m])`,
		`x{instance=~"[[instance]]"}`:              `x{instance=~"phoenix_var"}`,
		`x{instance=~"${instance:regex}"}`:         `x{instance=~"phoenix_var"}`,
		`label_replace(x, "a", "$1", "b", "(.*)")`: `label_replace(x, "a", "$1", "b", "(.*)")`,
		`x{a="$unknown"}`:                          `x{a="phoenix_var"}`,
	}
	for in, want := range cases {
		if got := substitute(in, vars); got != want {
			t.Errorf("substitute(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadInputs(t *testing.T) {
	s := NewSet()
	if err := s.AddDashboard("x.json", []byte("{not json")); err == nil {
		t.Error("malformed dashboard accepted")
	}
	if err := s.AddRules("x.yaml", []byte("groups: [")); err == nil {
		t.Error("malformed rules accepted")
	}
	s.AddExpr("long", strings.Repeat("a", MaxExprBytes+1))
	for range MaxIssues + 5 {
		s.AddExpr("bad", "sum(")
	}
	if len(s.Issues) != MaxIssues || s.IssuesDropped != 6 {
		t.Errorf("issues %d dropped %d, want %d and 6", len(s.Issues), s.IssuesDropped, MaxIssues)
	}
}

func FuzzAddDashboard(f *testing.F) {
	files, _ := filepath.Glob("testdata/dashboards/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"panels":[{"panels":[{"targets":[{"expr":"sum by (a) (x[5m:1m] offset 1h)"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSet()
		_ = s.AddDashboard("fuzz.json", data)
		if len(s.Issues) > MaxIssues {
			t.Fatalf("%d issues kept", len(s.Issues))
		}
	})
}

func FuzzAddRules(f *testing.F) {
	files, _ := filepath.Glob("testdata/rules/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSet()
		_ = s.AddRules("fuzz.yaml", data)
		for _, u := range s.Metrics {
			if u.Labels == nil || u.Except == nil {
				t.Fatal("nil maps in a MetricUse")
			}
		}
	})
}

func FuzzAddExpr(f *testing.F) {
	for _, e := range []string{
		`sum without (cpu) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))`,
		`a / on (x) group_left (y) b`,
		`label_join(up, "d", ",", "a", "b")`,
		`max_over_time(sum by (h) (m)[1h:5m] offset 1d)`,
		`{__name__=~"process_.*", host_name="a"}`,
		`topk(5, x) > bool 3`,
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s := NewSet()
		s.AddExpr("fuzz", expr)
	})
}

func TestQueriesKeepsParsedExpressions(t *testing.T) {
	s := NewSet()
	s.AddExpr("a", `sum by (host_name) (rate(process_cpu_time_seconds_total[5m]))`)
	s.AddExpr("b", `sum(`) // an issue, not a query
	s.AddExpr("c", `up`)
	if len(s.Queries) != 2 || s.Queries[0].Source != "a" || s.Queries[1].Expr != "up" || len(s.Issues) != 1 {
		t.Fatalf("Queries = %+v, Issues = %+v", s.Queries, s.Issues)
	}
}
