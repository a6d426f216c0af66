package cost

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func TestShippedCatalogIsTheEmbeddedOne(t *testing.T) {
	shipped, err := os.ReadFile("../../../../configs/pricing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, defaultCatalog) {
		t.Fatal("configs/pricing.yaml and the embedded copy differ: cp configs/pricing.yaml projects/analytics/internal/cost/")
	}
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"datadog", "grafana-cloud", "newrelic", "self-hosted"} {
		m, ok := c.Model(name)
		if !ok || m.Source == "" || m.Date == "" || m.Unit == "" {
			t.Errorf("model %s missing or without unit/source/date", name)
		}
	}
}

func TestMonthly(t *testing.T) {
	c, _ := Load("")
	fig := Figures{ActiveSeries: f(100_000), DPPerS: f(10_000), BytesPerS: f(1e6)}
	want := map[string]float64{
		"datadog":       100_000 / 100 * 5.0,
		"grafana-cloud": 100 * 6.5,
		"newrelic":      1e6 * 730 * 3600 / 1e9 * 0.40,
		"self-hosted":   100_000 * 4096 / 1e9 * 5.75,
	}
	rep, err := c.Report("s", "", fig)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Models {
		w, ok := want[m.Model]
		if !ok {
			continue
		}
		if m.MonthlyCost == nil || math.Abs(*m.MonthlyCost-w) > 1e-6 {
			t.Errorf("%s: %v, want %v", m.Model, m.MonthlyCost, w)
		}
	}
}

// Missing data gives unknown with a reason, never a number.
func TestUnknownNeverGuessed(t *testing.T) {
	c, err := Parse([]byte(`
source: test
date: "2025-01-01"
currency: USD
models:
  - {name: noprice, unit: per_series_month, per: 1000, source: x, date: "2025-01-01"}
  - {name: bytes, unit: per_gb_ingested, price: 1, source: x, date: "2025-01-01"}
  - {name: dp, unit: per_million_datapoints, price: 1, source: x, date: "2025-01-01"}
  - {name: hosted, unit: self_hosted, price_per_gb_month: 1, source: x, date: "2025-01-01"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := c.Report("s", "", Figures{ActiveSeries: f(10)}) // dp/s and bytes/s unknown
	for _, m := range rep.Models {
		if m.MonthlyCost != nil || m.MonthlyCostUnknownReason == "" {
			t.Errorf("%s: cost %v reason %q, want unknown", m.Model, m.MonthlyCost, m.MonthlyCostUnknownReason)
		}
	}
	if _, err := c.Report("s", "nope", Figures{}); err == nil || !strings.Contains(err.Error(), "noprice") {
		t.Errorf("unknown model: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no source":   "date: x\ncurrency: USD\nmodels: []\n",
		"bad unit":    "source: s\ndate: d\ncurrency: USD\nmodels: [{name: a, unit: per_lightyear, price: 1, source: s, date: d}]\n",
		"negative":    "source: s\ndate: d\ncurrency: USD\nmodels: [{name: a, unit: per_gb_ingested, price: -1, source: s, date: d}]\n",
		"duplicate":   "source: s\ndate: d\ncurrency: USD\nmodels: [{name: a, unit: per_gb_ingested, source: s, date: d}, {name: a, unit: per_gb_ingested, source: s, date: d}]\n",
		"unknown key": "source: s\ndate: d\ncurrency: USD\ncolour: red\nmodels: []\n",
		"no citation": "source: s\ndate: d\ncurrency: USD\nmodels: [{name: a, unit: per_gb_ingested, price: 1}]\n",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
