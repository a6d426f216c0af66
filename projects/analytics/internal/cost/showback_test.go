package cost

import (
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ingestFile feeds an OTLP/JSON request from testdata to a tracker's
// stream "shop" every 10 s for a minute, so rates are measured.
func ingestFile(t *testing.T, limits cardinality.Limits, path string) (*cardinality.Tracker, *testClock) {
	t.Helper()
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var req colmetrics.ExportMetricsServiceRequest
	if err := protojson.Unmarshal(js, &req); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	body := otlptest.Marshal(&req)
	clk := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	tr := cardinality.New(limits, clk.now)
	for range 7 {
		b := tr.Batch("shop", "team-a")
		if err := otlpwire.Walk(body, b); err != nil {
			b.Discard()
			t.Fatalf("walk: %v", err)
		}
		b.Done()
		clk.add(10 * time.Second)
	}
	return tr, clk
}

type wantGroup struct {
	value  string
	kind   string
	values int64
	series int64
}

func TestShowback(t *testing.T) {
	catalog, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		limits    cardinality.Limits
		by        string
		top       int
		exact     bool
		reason    string // substring of EstimatedReason
		distinct  int64
		groups    []wantGroup
		unknownDP bool
	}{
		{name: "service.name", by: "service.name", top: 20, exact: true, distinct: 4, groups: []wantGroup{
			{"cart", apiv1.GroupValue, 1, 42}, {"frontend", apiv1.GroupValue, 1, 36}, {"checkout", apiv1.GroupValue, 1, 20},
			{"payment", apiv1.GroupValue, 1, 10}, {ValueUnset, apiv1.GroupUnset, 0, 8}}},
		{name: "top bound folds the rest into (other)", by: "service.name", top: 2, exact: true, distinct: 4, groups: []wantGroup{
			{"cart", apiv1.GroupValue, 1, 42}, {"frontend", apiv1.GroupValue, 1, 36}, {ValueOther, apiv1.GroupOther, 2, 30},
			{ValueUnset, apiv1.GroupUnset, 0, 8}}},
		{name: "namespace", by: "k8s.namespace.name", top: 20, exact: true, distinct: 2, groups: []wantGroup{
			{"shop", apiv1.GroupValue, 1, 98}, {"billing", apiv1.GroupValue, 1, 10}, {ValueUnset, apiv1.GroupUnset, 0, 8}}},
		{name: "team", by: "team", top: 20, exact: true, distinct: 2, groups: []wantGroup{
			{"web", apiv1.GroupValue, 1, 78}, {"payments", apiv1.GroupValue, 1, 30}, {ValueUnset, apiv1.GroupUnset, 0, 8}}},
		{name: "datapoint attribute", by: "http.request.method", top: 20, exact: true, distinct: 2, groups: []wantGroup{
			{"GET", apiv1.GroupValue, 1, 46}, {"POST", apiv1.GroupValue, 1, 46}, {ValueUnset, apiv1.GroupUnset, 0, 24}}},
		{name: "label nobody carries", by: "job", top: 20, exact: true, distinct: 0, groups: []wantGroup{
			{ValueUnset, apiv1.GroupUnset, 0, 116}}},
		{name: "past the exact bound", limits: cardinality.Limits{ExactSeriesPerStream: 60}, by: "service.name", top: 20,
			exact: false, reason: "past the stream's exact bound", distinct: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := ingestFile(t, tt.limits, "testdata/showback/k8s-shop.json")
			st := tr.Stream("shop")
			fig := st.Figures()
			sn := st.Snapshot()
			sp := sn.SplitBy(tt.by)
			as := float64(sp.Tracked) + float64(int64(sp.Overflow+0.5))
			rep, err := catalog.Report("shop", "", Figures{ActiveSeries: &as, DPPerS: fig.DPPerS, BytesPerS: fig.BytesPerS})
			if err != nil {
				t.Fatal(err)
			}
			sb := catalog.Showback(rep, sp, tt.top)
			if sb.Exact != tt.exact || !strings.Contains(sb.EstimatedReason, tt.reason) {
				t.Fatalf("exact = %v (%q), want %v (%q)", sb.Exact, sb.EstimatedReason, tt.exact, tt.reason)
			}
			if tt.exact && sb.EstimatedReason != "" {
				t.Errorf("exact split with a reason: %q", sb.EstimatedReason)
			}
			if tt.distinct >= 0 && sb.DistinctValues != tt.distinct {
				t.Errorf("distinct values = %d, want %d", sb.DistinctValues, tt.distinct)
			}
			if tt.groups != nil {
				if len(sb.Groups) != len(tt.groups) {
					t.Fatalf("groups = %+v, want %+v", sb.Groups, tt.groups)
				}
				for i, w := range tt.groups {
					g := sb.Groups[i]
					if g.Value != w.value || g.Kind != w.kind || g.Values != w.values || g.Series != w.series {
						t.Errorf("group %d = %s/%s values %d series %d, want %+v", i, g.Value, g.Kind, g.Values, g.Series, w)
					}
				}
			}
			if !tt.exact {
				last := sb.Groups[len(sb.Groups)-1]
				if last.Kind != apiv1.GroupUnattributed || last.Series <= 0 || sb.ErrorBound <= 0 {
					t.Errorf("no unattributed group or error bound: %+v, bound %v", last, sb.ErrorBound)
				}
			}
			checkTotals(t, rep, sb)
		})
	}
}

// checkTotals: the groups add up to the stream, for series, datapoints,
// bytes and every model's cost.
func checkTotals(t *testing.T, rep apiv1.CostReport, sb apiv1.Showback) {
	t.Helper()
	var series int64
	var share, dp, bytes float64
	costs := map[string]float64{}
	for _, g := range sb.Groups {
		series += g.Series
		share += g.Share
		if g.DPPerS == nil || g.BytesPerS == nil {
			t.Fatalf("group %s: rates unknown (%s, %s) after a minute of data", g.Value, g.DPPerSUnknownReason, g.BytesPerSUnknownReason)
		}
		dp += *g.DPPerS
		bytes += *g.BytesPerS
		for _, m := range g.Models {
			if m.MonthlyCost == nil {
				t.Fatalf("group %s model %s: unknown cost (%s)", g.Value, m.Model, m.MonthlyCostUnknownReason)
			}
			costs[m.Model] += *m.MonthlyCost
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if float64(series) != *rep.ActiveSeries || !near(share, 1) {
		t.Errorf("series %d (share %v), stream %v", series, share, *rep.ActiveSeries)
	}
	if !near(dp, *rep.DPPerS) || !near(bytes, *rep.BytesPerS) {
		t.Errorf("dp %v bytes %v, stream %v %v", dp, bytes, *rep.DPPerS, *rep.BytesPerS)
	}
	for _, m := range rep.Models {
		if m.MonthlyCost == nil || !near(costs[m.Model], *m.MonthlyCost) {
			t.Errorf("model %s: groups %v, stream %v", m.Model, costs[m.Model], m.MonthlyCost)
		}
	}
}

func TestShowbackYoungStream(t *testing.T) {
	catalog, _ := Load("")
	js, _ := os.ReadFile("testdata/showback/k8s-shop.json")
	var req colmetrics.ExportMetricsServiceRequest
	if err := protojson.Unmarshal(js, &req); err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	tr := cardinality.New(cardinality.Limits{}, clk.now)
	b := tr.Batch("shop", "t")
	if err := otlpwire.Walk(otlptest.Marshal(&req), b); err != nil {
		t.Fatal(err)
	}
	b.Done()
	st := tr.Stream("shop")
	fig := st.Figures()
	sp := st.Snapshot().SplitBy("service.name")
	as := float64(sp.Tracked)
	rep, _ := catalog.Report("shop", "", Figures{ActiveSeries: &as, DPPerS: fig.DPPerS, BytesPerS: fig.BytesPerS})
	sb := catalog.Showback(rep, sp, 20)
	for _, g := range sb.Groups {
		if g.DPPerS != nil || g.DPPerSUnknownReason == "" || g.BytesPerS != nil {
			t.Errorf("group %s: rates known before one interval: %+v", g.Value, g)
		}
		for _, m := range g.Models {
			bySeries := m.Unit == UnitPerSeriesMonth || m.Unit == UnitSelfHosted
			if bySeries != (m.MonthlyCost != nil) || !bySeries && m.MonthlyCostUnknownReason == "" {
				t.Errorf("group %s model %s: cost %v reason %q", g.Value, m.Model, m.MonthlyCost, m.MonthlyCostUnknownReason)
			}
		}
	}
}
