package recommend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/usage"
)

// series is one synthetic series: metric, type and labels with scopes.
type series struct {
	metric, typ string
	labels      map[string]string
	scopes      map[string]string
}

// fleet builds hostmetrics-shaped series: hosts x processes, each process
// with a unique pid and command line on the resource.
func fleet(hosts, procs int) []series {
	var out []series
	names := []string{"nginx", "postgres", "java", "python3", "sshd", "systemd", "kworker/0:1", "node", "redis-server", "containerd"}
	for h := range hosts {
		host := fmt.Sprintf("host-%02d", h)
		for p := range procs {
			exe := names[p%len(names)]
			res := map[string]string{
				"host.name": host, "process.executable.name": exe,
				"process.pid": fmt.Sprint(1000 + h*procs + p), "process.command_line": fmt.Sprintf("%s --worker %d", exe, p),
			}
			add := func(metric, typ string, dp map[string]string) {
				l := map[string]string{}
				sc := map[string]string{}
				for k, v := range res {
					l[k], sc[k] = v, apiv1.ScopeResource
				}
				for k, v := range dp {
					l[k], sc[k] = v, apiv1.ScopeDatapoint
				}
				out = append(out, series{metric, typ, l, sc})
			}
			for _, st := range []string{"user", "system", "wait"} {
				add("process.cpu.time", "sum", map[string]string{"state": st})
			}
			add("process.memory.usage", "sum", nil)
			add("process.open_file_descriptors", "sum", nil)
		}
		for cpu := range 4 {
			for _, st := range []string{"user", "system", "idle"} {
				out = append(out, series{"system.cpu.time", "sum",
					map[string]string{"host.name": host, "cpu": fmt.Sprint(cpu), "state": st},
					map[string]string{"host.name": apiv1.ScopeResource, "cpu": apiv1.ScopeDatapoint, "state": apiv1.ScopeDatapoint}})
			}
		}
	}
	return out
}

// exactAnalytics is a test double for the analytics service that answers
// from an explicit series list with exact counts, and prices series
// linearly. It exists ONLY to test the ranking logic here; the real
// analytics service is used where it is available.
type exactAnalytics struct {
	series       []series
	perSeries    float64
	failEstimate bool
	estimates    int
}

func key(s series, drop []string) string {
	ks := make([]string, 0, len(s.labels))
	for k, v := range s.labels {
		if !slices.Contains(drop, k) {
			ks = append(ks, k+"="+v)
		}
	}
	sort.Strings(ks)
	return s.metric + "{" + strings.Join(ks, ",") + "}"
}

func (f *exactAnalytics) Cardinality(_ context.Context, req apiv1.CardinalityRequest) (*apiv1.CardinalityReport, error) {
	rep := &apiv1.CardinalityReport{Stream: req.Stream, Team: "team-a", Exact: true, ActiveSeries: int64(len(f.series))}
	byMetric := map[string][]series{}
	var order []string
	for _, s := range f.series {
		if _, ok := byMetric[s.metric]; !ok {
			order = append(order, s.metric)
		}
		byMetric[s.metric] = append(byMetric[s.metric], s)
	}
	for _, m := range order {
		ss := byMetric[m]
		mc := apiv1.MetricCardinality{Name: m, Type: ss[0].typ, Series: int64(len(ss))}
		var labels []string
		for l := range ss[0].labels {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			values, without := map[string]bool{}, map[string]bool{}
			for _, s := range ss {
				values[s.labels[l]] = true
				without[key(s, []string{l})] = true
			}
			mc.Labels = append(mc.Labels, apiv1.LabelCardinality{
				Name: l, Scope: ss[0].scopes[l], DistinctValues: int64(len(values)),
				Share: 1 - float64(len(without))/float64(len(ss)),
			})
		}
		rep.Metrics = append(rep.Metrics, mc)
	}
	return rep, nil
}

func (f *exactAnalytics) Estimate(_ context.Context, req apiv1.EstimateRequest) (*apiv1.EstimateReply, error) {
	f.estimates++
	if f.failEstimate {
		return nil, errors.New("analytics unavailable")
	}
	var crit *regexp.Regexp
	if req.TopK != nil && req.TopK.Critical != "" {
		crit = regexp.MustCompile("^(?:" + req.TopK.Critical + ")$")
	}
	// Entity ranks by series count per group (ties by name), as documented.
	keep := map[string]bool{}
	if req.TopK != nil {
		count := map[string]map[string]int{}
		for _, s := range f.series {
			if !hasAll(s, req.TopK.EntityKeys) {
				continue
			}
			g, e := join(s, req.TopK.GroupBy), join(s, req.TopK.EntityKeys)
			if count[g] == nil {
				count[g] = map[string]int{}
			}
			count[g][e]++
		}
		for g, es := range count {
			var names []string
			for e := range es {
				names = append(names, e)
			}
			sort.Slice(names, func(i, j int) bool {
				if es[names[i]] != es[names[j]] {
					return es[names[i]] > es[names[j]]
				}
				return names[i] < names[j]
			})
			for i, e := range names {
				if i < req.TopK.K || (crit != nil && crit.MatchString(strings.SplitN(e, "|", 2)[0])) {
					keep[g+"/"+e] = true
				}
			}
		}
	}
	before, after := 0, map[string]map[string]bool{}
	for _, s := range f.series {
		if req.Metric != "" && s.metric != req.Metric {
			continue
		}
		before++
		c := series{s.metric, s.typ, map[string]string{}, s.scopes}
		for k, v := range s.labels {
			c.labels[k] = v
		}
		if req.TopK != nil && hasAll(s, req.TopK.EntityKeys) && !keep[join(s, req.TopK.GroupBy)+"/"+join(s, req.TopK.EntityKeys)] {
			for _, k := range req.TopK.EntityKeys {
				c.labels[k] = "_other_"
			}
		}
		if after[s.metric] == nil {
			after[s.metric] = map[string]bool{}
		}
		after[s.metric][key(c, req.DropLabels)] = true
	}
	total := int64(0)
	for _, set := range after {
		n := int64(len(set))
		if req.CapPerMetric > 0 && n > req.CapPerMetric {
			n = req.CapPerMetric + 1 // the overflow series
		}
		total += n
	}
	return &apiv1.EstimateReply{Stream: req.Stream, Metric: req.Metric, SeriesBefore: int64(before), SeriesAfter: total, Exact: true}, nil
}

func hasAll(s series, keys []string) bool {
	for _, k := range keys {
		if _, ok := s.labels[k]; !ok {
			return false
		}
	}
	return true
}

func join(s series, keys []string) string {
	var v []string
	for _, k := range keys {
		v = append(v, s.labels[k])
	}
	return strings.Join(v, "|")
}

func (f *exactAnalytics) Cost(_ context.Context, req apiv1.CostRequest) (*apiv1.CostReport, error) {
	c := *req.ActiveSeries * f.perSeries
	return &apiv1.CostReport{Models: []apiv1.ModelCost{{Model: req.Model, Unit: "series-month", MonthlyCost: &c}}}, nil
}

func loadUsage(t *testing.T) *usage.Set {
	t.Helper()
	s := usage.NewSet()
	for _, f := range mustGlob(t, "../../../../pkg/usage/testdata/dashboards/*.json") {
		b, _ := os.ReadFile(f)
		if err := s.AddDashboard(filepath.Base(f), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range mustGlob(t, "../../../../pkg/usage/testdata/rules/*.yaml") {
		b, _ := os.ReadFile(f)
		if err := s.AddRules(filepath.Base(f), b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func mustGlob(t *testing.T, p string) []string {
	t.Helper()
	m, _ := filepath.Glob(p)
	if len(m) == 0 {
		t.Fatalf("no files match %s", p)
	}
	return m
}

func TestRecommendUsageAware(t *testing.T) {
	ctx := context.Background()
	fa := &exactAnalytics{series: fleet(3, 30), perSeries: 0.05}
	rep, _ := fa.Cardinality(ctx, apiv1.CardinalityRequest{Stream: "s"})
	u := loadUsage(t)
	out, err := Recommend(ctx, fa, Input{Report: rep, Usage: u, Model: "datadog"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.UnusedMetrics, []string{"process.open_file_descriptors"}) {
		t.Errorf("unused metrics = %v", out.UnusedMetrics)
	}
	if got := out.Used["process.cpu.time"]; !slices.Equal(got, []string{"host.name", "process.executable.name"}) {
		t.Errorf("used labels of process.cpu.time = %v", got)
	}
	byID := map[string]Item{}
	for _, it := range out.Items {
		byID[it.ID] = it
		if it.Model != "datadog" {
			t.Errorf("%s model = %q", it.ID, it.Model)
		}
		// Never drop a used metric or label.
		switch it.Kind {
		case KindDropMetric:
			if _, used := out.Used[it.Metric]; used {
				t.Errorf("%s drops a used metric", it.ID)
			}
		case KindAggregate, KindDropLabel:
			for m, labels := range out.Used {
				if it.Metric != "" && it.Metric != m {
					continue
				}
				for _, l := range it.Labels {
					if slices.Contains(labels, l) {
						t.Errorf("%s drops label %s used by %s", it.ID, l, m)
					}
				}
			}
		}
	}
	dm, ok := byID["drop_metric:process.open_file_descriptors"]
	if !ok || dm.SeriesBefore != 90 || *dm.SeriesAfterEstimate != 0 || *dm.MonthlySavingEstimate != 4.5 {
		t.Errorf("drop_metric item = %+v", dm)
	}
	// process.pid is unused by every dashboard: aggregating it away merges
	// each executable's processes. 3 hosts x 10 executables x 3 pids.
	pid, ok := byID["aggregate:*:process.command_line+process.pid"]
	if !ok {
		t.Fatalf("no process.pid item among %v", keys(byID))
	}
	// 3 hosts x 30 processes x 5 process series + 36 system.cpu.time series
	// = 486; without pid and command line, 3 hosts x 10 executables x 5 + 36.
	if pid.SeriesBefore != 486 || pid.SeriesAfterEstimate == nil || *pid.SeriesAfterEstimate != 186 {
		t.Errorf("identity item = %+v", pid)
	}
	if pid.MonthlySavingEstimate == nil || *pid.MonthlySavingEstimate != 15 { // 300 series x $0.05
		t.Errorf("identity saving = %v", pid.MonthlySavingEstimate)
	}
	// Each alone merges nothing: no single-label item for either.
	for _, id := range []string{"aggregate:*:process.pid", "aggregate:*:process.command_line"} {
		if _, ok := byID[id]; ok {
			t.Errorf("%s suggested although it alone merges nothing", id)
		}
	}
	if _, ok := byID["aggregate:*:process.executable.name"]; ok {
		t.Error("recommends dropping process.executable.name, which dashboards use")
	}
	// Top-K as phoenix_topk emits it: per host the 10 first processes (all
	// have 5 series; ties go by name: containerd, java, kworker x3 each and
	// one nginx) plus the 6 critical ones (sshd, systemd x3), and one
	// `_other_` without the other resource attributes; plus the 36
	// system.cpu.time series: 3 x (16 x 5 + 5) + 36.
	if tk, ok := byID["topk:*:k=10"]; !ok || tk.SeriesAfterEstimate == nil || *tk.SeriesAfterEstimate != 3*(16*5+5)+36 || tk.Risk != RiskMedium {
		t.Errorf("topk item = %+v after %v", tk, deref(tk.SeriesAfterEstimate))
	}
	// Sorted by saving.
	for i := 1; i < len(out.Items); i++ {
		a, b := out.Items[i-1].MonthlySavingEstimate, out.Items[i].MonthlySavingEstimate
		if a != nil && b != nil && *a < *b {
			t.Errorf("items not sorted by saving at %d: %v < %v", i, *a, *b)
		}
	}
}

func TestRecommendWithoutUsage(t *testing.T) {
	ctx := context.Background()
	fa := &exactAnalytics{series: fleet(2, 10), perSeries: 0.05}
	rep, _ := fa.Cardinality(ctx, apiv1.CardinalityRequest{Stream: "s"})
	out, err := Recommend(ctx, fa, Input{Report: rep})
	if err != nil {
		t.Fatal(err)
	}
	if out.UnusedMetricsUnknownReason == "" || len(out.UnusedMetrics) != 0 {
		t.Errorf("unused = %v reason %q", out.UnusedMetrics, out.UnusedMetricsUnknownReason)
	}
	for _, it := range out.Items {
		if it.Kind == KindDropMetric {
			t.Errorf("drops a metric without usage data: %s", it.ID)
		}
		if it.Kind == KindAggregate && it.Risk == RiskLow {
			t.Errorf("%s is low risk without usage data", it.ID)
		}
	}
	if out.Model != DefaultModel {
		t.Errorf("model = %q", out.Model)
	}
}

func TestRecommendAnalyticsDown(t *testing.T) {
	ctx := context.Background()
	fa := &exactAnalytics{series: fleet(2, 10), perSeries: 0.05}
	rep, _ := fa.Cardinality(ctx, apiv1.CardinalityRequest{Stream: "s"})
	fa.failEstimate = true
	out, err := Recommend(ctx, fa, Input{Report: rep})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) == 0 {
		t.Fatal("no items")
	}
	for _, it := range out.Items {
		if it.SeriesAfterEstimate != nil || it.SeriesAfterUnknownReason == "" || it.MonthlySavingEstimate != nil || it.MonthlySavingUnknownReason == "" {
			t.Errorf("%s invents figures without analytics: %+v", it.ID, it)
		}
	}
}

func keys(m map[string]Item) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
