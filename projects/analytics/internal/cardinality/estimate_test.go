package cardinality

import (
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

func fleetTracker(t *testing.T, procs int, l Limits) *Tracker {
	t.Helper()
	tr := New(l, newClock().now)
	for _, body := range otlptest.ProcessFleet(0, procs, 1000) {
		applyOTLP(t, tr, "", body)
	}
	return tr
}

func TestEstimate(t *testing.T) {
	// 1000 processes on 10 hosts, 8 executables: 10k series.
	sn := fleetTracker(t, 1000, Limits{}).Stream(apiv1.DefaultStream).Snapshot()
	all := []string{"process.pid", "process.command_line", "process.executable.name"}
	cases := []struct {
		name   string
		req    apiv1.EstimateRequest
		before int64
		after  int64
	}{
		{"nothing", apiv1.EstimateRequest{}, 10_000, 10_000},
		// Without pid and command line a process is (host, executable): 80.
		{"drop", apiv1.EstimateRequest{DropLabels: []string{"process.pid", "process.command_line"}}, 10_000, 800},
		{"drop one metric", apiv1.EstimateRequest{Metric: "process.cpu.time", DropLabels: []string{"process.pid", "process.command_line"}}, 3000, 240},
		// Keep 5 processes per host, fold 95 into one: 6 per host.
		{"topk", apiv1.EstimateRequest{TopK: &apiv1.TopKEstimate{EntityKeys: all, GroupBy: []string{"host.name"}, K: 5}}, 10_000, 600},
		{"cap", apiv1.EstimateRequest{CapPerMetric: 5}, 10_000, 35},
		{"drop state", apiv1.EstimateRequest{Metric: "process.cpu.time", DropLabels: []string{"state"}}, 3000, 1000},
	}
	for _, c := range cases {
		got, err := sn.Estimate(c.req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.SeriesBefore != c.before || got.SeriesAfter != c.after || !got.Exact {
			t.Errorf("%s: before %d after %d exact %v, want %d -> %d", c.name, got.SeriesBefore, got.SeriesAfter, got.Exact, c.before, c.after)
		}
	}
	// Critical entities are kept on top of k: nginx is 1 in 8 processes.
	got, err := sn.Estimate(apiv1.EstimateRequest{TopK: &apiv1.TopKEstimate{EntityKeys: all, GroupBy: []string{"host.name"}, K: 0, Critical: "nginx"}})
	if err != nil || got.SeriesAfter != (125+10)*10 {
		t.Errorf("critical: %+v %v", got, err)
	}
	for _, bad := range []apiv1.EstimateRequest{
		{Metric: "nope"},
		{TopK: &apiv1.TopKEstimate{K: 1}},
		{TopK: &apiv1.TopKEstimate{EntityKeys: all, Critical: "("}},
		{CapPerMetric: -1},
	} {
		if _, err := sn.Estimate(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
