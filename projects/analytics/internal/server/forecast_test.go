package server

import (
	"context"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cost"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/rollup"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// rows writes n rollups of length step from t0 with series(i) active
// series and 10 datapoints/s per series (100 bytes per datapoint).
func rows(n int, step time.Duration, series func(i int) float64) []apiv1.Rollup {
	out := make([]apiv1.Rollup, 0, n)
	for i := range n {
		s := series(i)
		if s < 0 {
			continue // a gap: no rollup written
		}
		dp := int64(s * 10 * step.Seconds())
		out = append(out, apiv1.Rollup{Stream: "s", Start: t0.Add(time.Duration(i) * step), End: t0.Add(time.Duration(i+1) * step),
			ActiveSeries: int64(s), Datapoints: dp, Bytes: dp * 100, Exact: true})
	}
	return out
}

func f64(v float64) *float64 { return &v }

func TestBuildForecast(t *testing.T) {
	catalog, err := cost.Load("")
	if err != nil {
		t.Fatal(err)
	}
	selfHosted, _ := catalog.Model("self-hosted")
	datadog, _ := catalog.Model("datadog")
	const step = 5 * time.Minute
	// Three days of a stream growing by 100 series an hour from 10,000,
	// with a ±1% wobble.
	growing := func(i int) float64 {
		h := float64(i) * step.Hours()
		return 10_000 + 100*h + 100*math.Sin(float64(i)*0.7)
	}
	days3 := 3 * 24 * 12
	tests := []struct {
		name    string
		rows    []apiv1.Rollup
		horizon time.Duration
		budget  *float64
		costB   *float64
		check   func(t *testing.T, rep apiv1.ForecastReport)
	}{
		{name: "no history", rows: nil, horizon: 24 * time.Hour, budget: f64(1), check: func(t *testing.T, rep apiv1.ForecastReport) {
			wantUnknown(t, rep, "no stored rollups")
		}},
		{name: "history shorter than a tenth of the horizon", rows: rows(days3, step, growing), horizon: 60 * 24 * time.Hour,
			check: func(t *testing.T, rep apiv1.ForecastReport) { wantUnknown(t, rep, "needs at least 144h0m0s") }},
		{name: "too few steps", rows: rows(6, 10*time.Second, func(int) float64 { return 5 }), horizon: time.Minute,
			check: func(t *testing.T, rep apiv1.ForecastReport) { wantUnknown(t, rep, "at least 12") }},
		{name: "mostly gaps", rows: rows(days3, step, func(i int) float64 {
			if i%3 != 0 {
				return -1
			}
			return 100
		}), horizon: 24 * time.Hour, check: func(t *testing.T, rep apiv1.ForecastReport) { wantUnknown(t, rep, "rollups cover only") }},
		{name: "growing stream crosses its series budget", rows: rows(days3, step, growing), horizon: 7 * 24 * time.Hour,
			budget: f64(20_000), costB: f64(1e9), check: func(t *testing.T, rep apiv1.ForecastReport) {
				as := rep.ActiveSeries
				if as == nil {
					t.Fatalf("no forecast: %s", rep.ActiveSeriesUnknownReason)
				}
				// A week on at +100/h is +16,800; the damped trend may stop
				// short of that, but not below the current level.
				if as.Current < 17_000 || as.Point < as.Current+5_000 || as.Point > as.Current+16_800*1.05 || as.Lower > as.Point || as.Upper < as.Point {
					t.Errorf("active series %+v", *as)
				}
				if len(rep.Path) == 0 || len(rep.Path) > maxPathPoints+1 || !rep.Path[len(rep.Path)-1].Time.Equal(rep.At) {
					t.Errorf("path of %d points, last %v, at %v", len(rep.Path), rep.Path[len(rep.Path)-1].Time, rep.At)
				}
				b := rep.Budgets[0]
				// 20,000 at +100/h from about 17,200 now is about 28 h away
				// on the trend; damping delays it.
				if b.Status != apiv1.BudgetCrosses || b.CrossesAt == nil || b.EarliestAt == nil || b.EarliestAt.After(*b.CrossesAt) {
					t.Fatalf("budget %+v", b)
				}
				if d := b.CrossesAt.Sub(rep.History.To); d < 20*time.Hour || d > 72*time.Hour {
					t.Errorf("crosses %s after the history, want about 28h", d)
				}
				if c := rep.Budgets[1]; c.Kind != apiv1.BudgetKindMonthlyCost || c.Model != "self-hosted" || c.Status != apiv1.BudgetWithin || c.CrossesAt != nil {
					t.Errorf("cost budget %+v", c)
				}
				for _, mc := range rep.MonthlyCost {
					if mc.Current == nil || mc.MonthlyCost == nil || *mc.MonthlyCost <= *mc.Current || *mc.Lower > *mc.MonthlyCost || *mc.Upper < *mc.MonthlyCost {
						t.Errorf("cost %s: %v now, %v [%v, %v] (%s)", mc.Model, mc.Current, mc.MonthlyCost, mc.Lower, mc.Upper, mc.MonthlyCostUnknownReason)
					}
				}
			}},
		{name: "over budget already", rows: rows(days3, step, growing), horizon: 24 * time.Hour, budget: f64(12_000),
			check: func(t *testing.T, rep apiv1.ForecastReport) {
				if b := rep.Budgets[0]; b.Status != apiv1.BudgetOver || b.CrossesAt == nil || !b.CrossesAt.Equal(rep.History.To) {
					t.Errorf("budget %+v", b)
				}
			}},
		{name: "flat stream stays within", rows: rows(days3, step, func(i int) float64 { return 5000 + 20*math.Sin(float64(i)) }),
			horizon: 30 * 24 * time.Hour / 10, budget: f64(6000), costB: f64(0.01), check: func(t *testing.T, rep apiv1.ForecastReport) {
				if b := rep.Budgets[0]; b.Status != apiv1.BudgetWithin || b.CrossesAt != nil || b.EarliestAt != nil {
					t.Errorf("series budget %+v", b)
				}
				if c := rep.Budgets[1]; c.Status != apiv1.BudgetOver {
					t.Errorf("cost budget %+v", c)
				}
			}},
		{name: "quiet stream: gaps after an all-zero row are zero", rows: rows(days3, step, func(i int) float64 {
			switch {
			case i < days3/2:
				return 300
			case i == days3/2:
				return 0
			}
			return -1
		}), horizon: 24 * time.Hour, budget: f64(100), check: func(t *testing.T, rep apiv1.ForecastReport) {
			if rep.ActiveSeries == nil || rep.ActiveSeries.Current != 0 || rep.ActiveSeries.Point > 1 {
				t.Errorf("active series %+v (%s)", rep.ActiveSeries, rep.ActiveSeriesUnknownReason)
			}
			if want := t0.Add(72 * time.Hour); rep.History.To.Before(want) || rep.History.FilledPoints != 0 {
				t.Errorf("history %+v: want it to reach %v, quiet time counted as zero", rep.History, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(72 * time.Hour)
			req := apiv1.ForecastRequest{Stream: "s", Horizon: tt.horizon, BudgetSeries: tt.budget, BudgetMonthlyCost: tt.costB}
			rep := buildForecast(tt.rows, now, req, []cost.Model{selfHosted, datadog}, selfHosted, 10*time.Second)
			if rep.Method != apiv1.ForecastHoltDamped || rep.HorizonSeconds != tt.horizon.Seconds() || len(rep.MonthlyCost) != 2 {
				t.Fatalf("report %+v", rep)
			}
			wantBudgets := 0
			for _, b := range []*float64{tt.budget, tt.costB} {
				if b != nil {
					wantBudgets++
				}
			}
			if len(rep.Budgets) != wantBudgets {
				t.Fatalf("budgets %+v", rep.Budgets)
			}
			tt.check(t, rep)
		})
	}
}

func wantUnknown(t *testing.T, rep apiv1.ForecastReport, reason string) {
	t.Helper()
	if rep.ActiveSeries != nil || rep.Params != nil || !strings.Contains(rep.ActiveSeriesUnknownReason, reason) {
		t.Fatalf("active series %+v, reason %q, want unknown with %q", rep.ActiveSeries, rep.ActiveSeriesUnknownReason, reason)
	}
	for _, mc := range rep.MonthlyCost {
		if mc.MonthlyCost != nil || mc.MonthlyCostUnknownReason == "" {
			t.Errorf("cost %+v", mc)
		}
	}
	for _, b := range rep.Budgets {
		if b.Status != apiv1.BudgetUnknown || b.CrossesAt != nil || b.UnknownReason == "" {
			t.Errorf("budget %+v", b)
		}
	}
}

// TestForecastFromStore goes through the service: a tracked stream, its
// rollups stored, the REST handler's parameters.
func TestForecastFromStore(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "a.db"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := rollup.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	catalog, _ := cost.Load("")
	tr := cardinality.New(cardinality.Limits{}, nil)
	b := tr.Batch("s", "team-a")
	if err := otlpwire.Walk(otlptest.Marshal(otlptest.Request(otlptest.RM(otlptest.ProcessResource("h", "nginx", 1), otlptest.Gauge("g", 1, nil)))), b); err != nil {
		t.Fatal(err)
	}
	if r := b.Done(); tr.Stream("s") == nil {
		t.Fatalf("stream not created: %+v", r)
	}
	s := &Service{store: st, catalog: catalog, tracker: tr, cfg: DefaultConfig()}
	now := time.Now().UTC()
	start := now.Add(-48 * time.Hour).Truncate(time.Hour)
	var rs []apiv1.Rollup
	for i := range 48 * 12 {
		rs = append(rs, apiv1.Rollup{Stream: "s", Start: start.Add(time.Duration(i) * 5 * time.Minute), End: start.Add(time.Duration(i+1) * 5 * time.Minute),
			ActiveSeries: int64(1000 + i), Datapoints: 3000, Bytes: 300_000, Exact: true})
	}
	if err := st.Save(ctx, 5*time.Minute, rs...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query   string
		other   bool // asked by another team
		wantErr string
		check   func(apiv1.ForecastReport) bool
	}{
		{query: "stream=s&horizon=1d&budget_series=1700", check: func(r apiv1.ForecastReport) bool {
			return r.ActiveSeries != nil && r.Budgets[0].Status == apiv1.BudgetCrosses && r.HorizonSeconds == 86400
		}},
		{query: "stream=s", check: func(r apiv1.ForecastReport) bool {
			return r.ActiveSeries == nil && strings.Contains(r.ActiveSeriesUnknownReason, "a tenth of the horizon")
		}},
		{query: "stream=s&horizon=12h&model=datadog&budget_monthly_cost=1", check: func(r apiv1.ForecastReport) bool {
			return len(r.MonthlyCost) == 1 && r.MonthlyCost[0].Model == "datadog" && r.Budgets[0].Model == "datadog" && r.Budgets[0].Status == apiv1.BudgetOver
		}},
		{query: "stream=nope", wantErr: "not found"},
		{query: "stream=s&horizon=1d", other: true, wantErr: "not found"},
		{query: "", wantErr: "stream is required"},
		{query: "stream=s&horizon=0d", wantErr: "invalid horizon"},
		{query: "stream=s&horizon=week", wantErr: "invalid horizon"},
		{query: "stream=s&budget_series=-3", wantErr: "invalid budget_series"},
		{query: "stream=s&model=cheap", wantErr: "unknown price model"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := parseQuery(tt.query)
			p := apiv1.Principal{Kind: "user", Subject: "u", Teams: []string{"team-a"}}
			if tt.other {
				p.Teams = []string{"team-b"}
			}
			out, err := s.restForecast(ctx, &apiv1.Request{Query: q, Principal: p})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep := out.(apiv1.ForecastReport); !tt.check(rep) {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

func FuzzParseHorizon(f *testing.F) {
	for _, s := range []string{"30d", "12h", "90m", "1m", "365d", "366d", "0d", "-1d", "d", "1.5d", "9999999999999d", "1h30m", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseHorizon(s)
		if err != nil {
			return
		}
		if d < minHorizon || d > maxHorizon {
			t.Fatalf("parseHorizon(%q) = %s, outside [1m, 365d]", s, d)
		}
	})
}

func parseQuery(s string) (url.Values, error) { return url.ParseQuery(s) }
