package phoenixcli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

func TestCardinalityCommand(t *testing.T) {
	dp := 12.5
	rep := apiv1.CardinalityReport{Stream: "default", Team: "t", ActiveSeries: 3, Exact: true, DPPerS: &dp,
		BytesPerSUnknownReason: "not yet", Metrics: []apiv1.MetricCardinality{{Name: "process.cpu.time", Type: "sum", Series: 3,
			Labels: []apiv1.LabelCardinality{{Name: "process.pid", Scope: "resource", DistinctValues: 3, Share: 2.0 / 3,
				TopValues: []apiv1.ValueCount{{Value: "42", Series: 1}}}}}}}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/streams/default/cardinality":
			_ = json.NewEncoder(w).Encode(rep)
		case "/api/v1/streams":
			_ = json.NewEncoder(w).Encode(apiv1.List[apiv1.StreamSummary]{Items: []apiv1.StreamSummary{{Stream: "default", ActiveSeries: 3}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	out, _, err := runCLI(t, "--api-url", srv.URL, "cardinality", "--stream", "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 active series (exact)", "12.5 dp/s", "unknown (not yet) bytes/s", "process.cpu.time", "process.pid", "67%", "42 (1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "--api-url", srv.URL, "cardinality", "--stream", "default", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var back apiv1.CardinalityReport
	if err := json.Unmarshal([]byte(out), &back); err != nil || back.ActiveSeries != 3 || back.BytesPerS != nil {
		t.Errorf("json: %v %+v", err, back)
	}
	out, _, err = runCLI(t, "--api-url", srv.URL, "cardinality")
	if err != nil || !strings.Contains(out, "default") {
		t.Errorf("list: %v %s", err, out)
	}
	if paths[0] != "/api/v1/streams/default/cardinality?top_values=3" {
		t.Errorf("path %s", paths[0])
	}
}

func TestAggregateBasis(t *testing.T) {
	half := 0.5
	tests := []struct {
		name string
		in   apiv1.AggregateResult
		want string
	}{
		{"windows", apiv1.AggregateResult{Basis: apiv1.BasisWindows, MeanRelError: &half, Windows: make([]apiv1.AggregateWindow, 3)}, ", mean 50.0% over 3 windows"},
		{"latest with reason", apiv1.AggregateResult{Basis: apiv1.BasisLatest, BasisReason: "not watched before"}, " (latest values: not watched before)"},
		{"latest", apiv1.AggregateResult{Basis: apiv1.BasisLatest}, " (latest values)"},
		{"none", apiv1.AggregateResult{Basis: apiv1.BasisNone}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aggregateBasis(tt.in); got != tt.want {
				t.Fatalf("aggregateBasis = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCostTable(t *testing.T) {
	series, cost := 9480.0, 47.4
	tests := []struct {
		name string
		rep  apiv1.CostReport
		want []string
	}{
		{
			name: "known cost carries currency and period",
			rep: apiv1.CostReport{Stream: "default", ActiveSeries: &series, Catalog: apiv1.CatalogInfo{Source: "list prices", Date: "2025-06-01", Currency: "USD"},
				Models: []apiv1.ModelCost{{Model: "datadog", Unit: "per_series_month", MonthlyCost: &cost}}},
			want: []string{"9480 active series", "in USD", "datadog", "active series per month", "47.40 USD/month",
				"unknown (not measured yet) datapoints/s"},
		},
		{
			name: "null cost says unknown and why",
			rep: apiv1.CostReport{Stream: "s", Catalog: apiv1.CatalogInfo{Currency: "EUR"},
				Models: []apiv1.ModelCost{{Model: "newrelic", Unit: "per_gb_ingested", MonthlyCostUnknownReason: "bytes/s not measured yet"}}},
			want: []string{"GB ingested", "unknown (bytes/s not measured yet)", "in EUR"},
		},
		{
			name: "unknown unit is printed as given",
			rep:  apiv1.CostReport{Models: []apiv1.ModelCost{{Model: "m", Unit: "per_widget", MonthlyCost: &cost}}},
			want: []string{"per_widget", "47.40 (currency not given by the catalog)/month"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			costTable(tw, tt.rep)
			_ = tw.Flush()
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("cost table lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestCostShowbackCommand(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rep := apiv1.CostReport{Stream: "shop", ActiveSeries: f(116), DPPerS: f(11.6), BytesPerS: f(900),
		Catalog: apiv1.CatalogInfo{Source: "list prices", Date: "2026-01-01", Currency: "USD"},
		Models:  []apiv1.ModelCost{{Model: "datadog", Unit: "per_series_month", MonthlyCost: f(5.8)}},
		Showback: &apiv1.Showback{Label: "service.name", Exact: false, EstimatedReason: "40 active series past the exact bound",
			DistinctValues: 4, Top: 1, DPSplitBasis: "per metric", Groups: []apiv1.CostGroup{
				{Value: "cart", Kind: apiv1.GroupValue, Values: 1, Series: 42, Share: 42.0 / 116, DPPerS: f(4.2),
					Models: []apiv1.ModelCost{{Model: "datadog", MonthlyCost: f(2.1)}}},
				{Value: "(other)", Kind: apiv1.GroupOther, Values: 3, Series: 74, Share: 74.0 / 116,
					Models: []apiv1.ModelCost{{Model: "datadog", MonthlyCostUnknownReason: "not measured"}}},
			}}}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	}))
	defer srv.Close()
	out, _, err := runCLI(t, "--api-url", srv.URL, "cost", "--stream", "shop", "--by", "service.name", "--top", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"by service.name: 4 distinct values", "ESTIMATED: 40 active series past the exact bound",
		"DATADOG USD/MONTH", "cart", "36.2%", "2.10", "(other) (3 values)", "unknown"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if paths[0] != "/api/v1/cost?by=service.name&stream=shop&top=1" {
		t.Errorf("path %s", paths[0])
	}
	out, _, err = runCLI(t, "--api-url", srv.URL, "cost", "--stream", "shop", "--by", "team", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var back apiv1.CostReport
	if err := json.Unmarshal([]byte(out), &back); err != nil || back.Showback == nil || len(back.Showback.Groups) != 2 || back.Showback.Exact {
		t.Errorf("json: %v %+v", err, back.Showback)
	}
	if paths[1] != "/api/v1/cost?by=team&stream=shop&top=20" {
		t.Errorf("path %s", paths[1])
	}
}
