package phoenixcli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func TestForecastCommand(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cross := time.Date(2026, 12, 9, 4, 0, 0, 0, time.UTC)
	early := time.Date(2026, 12, 8, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		args  []string
		path  string
		rep   apiv1.ForecastReport
		wants []string
	}{
		{name: "projection and budgets", args: []string{"--stream", "shop", "--horizon", "7d", "--budget-series", "20000", "--budget-monthly-cost", "99.5"},
			path: "/api/v1/forecast?budget_monthly_cost=99.5&budget_series=20000&horizon=7d&stream=shop",
			rep: apiv1.ForecastReport{Stream: "shop", HorizonSeconds: 7 * 86400, IntervalLevel: 0.95, Method: apiv1.ForecastHoltDamped,
				History:      apiv1.ForecastHistory{Points: 24, StepSeconds: 10800},
				ActiveSeries: &apiv1.ForecastValue{Current: 17270, Point: 31000, Lower: 25000, Upper: 37000},
				MonthlyCost:  []apiv1.ForecastCost{{Model: "datadog", Current: f(863.5), MonthlyCost: f(1550), Lower: f(1250), Upper: f(1850)}},
				Budgets: []apiv1.BudgetForecast{{Kind: apiv1.BudgetKindSeries, Limit: 20000, Status: apiv1.BudgetCrosses, CrossesAt: &cross, EarliestAt: &early},
					{Kind: apiv1.BudgetKindMonthlyCost, Limit: 99.5, Model: "self-hosted", Status: apiv1.BudgetOver}}},
			wants: []string{"168h0m0s ahead", "24 steps of 3h0m0s", "17270 now, 31000 projected (95% interval 25000 to 37000)",
				"863.5 now, 1550.00 projected", "projected to cross at 2026-12-09T04:00:00Z (upper bound crosses at 2026-12-08T22:00:00Z)",
				"budget monthly_cost (self-hosted)", "already over"}},
		{name: "unknown", args: []string{"--stream", "young"}, path: "/api/v1/forecast?horizon=30d&stream=young",
			rep: apiv1.ForecastReport{Stream: "young", ActiveSeriesUnknownReason: "the stored history covers 2h0m0s",
				MonthlyCost: []apiv1.ForecastCost{{Model: "datadog", MonthlyCostUnknownReason: "the stored history covers 2h0m0s"}}},
			wants: []string{"active series", "unknown (the stored history covers 2h0m0s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.RequestURI()
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(tt.rep)
			}))
			defer srv.Close()
			out, _, err := runCLI(t, append([]string{"--api-url", srv.URL, "forecast"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if path != tt.path {
				t.Errorf("path %s, want %s", path, tt.path)
			}
			for _, want := range tt.wants {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
			out, _, err = runCLI(t, append([]string{"--api-url", srv.URL, "forecast", "-o", "json"}, tt.args...)...)
			var back apiv1.ForecastReport
			if err != nil || json.Unmarshal([]byte(out), &back) != nil || back.Stream != tt.rep.Stream || (back.ActiveSeries == nil) != (tt.rep.ActiveSeries == nil) {
				t.Errorf("json: %v %s", err, out)
			}
		})
	}
}
