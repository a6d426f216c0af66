// Package cost prices a stream's live figures with a price catalog
// (configs/pricing.yaml, embedded as the default, overridable with
// --price-catalog). A figure the catalog or the stream cannot provide gives
// a null cost with a reason, never a guess.
package cost

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

//go:embed pricing.yaml
var defaultCatalog []byte

// HoursPerMonth is the billing month the catalog assumes.
const HoursPerMonth = 730

// Units of price models.
const (
	UnitPerSeriesMonth       = "per_series_month"
	UnitPerGBIngested        = "per_gb_ingested"
	UnitPerMillionDatapoints = "per_million_datapoints"
	UnitSelfHosted           = "self_hosted"
)

// Catalog is a price catalog file.
type Catalog struct {
	Source   string  `yaml:"source"`
	Date     string  `yaml:"date"`
	Currency string  `yaml:"currency"`
	Models   []Model `yaml:"models"`
}

// Model is one pricing model.
type Model struct {
	Name            string   `yaml:"name"`
	Unit            string   `yaml:"unit"`
	Price           *float64 `yaml:"price"`
	Per             float64  `yaml:"per"`
	BytesPerSeries  *float64 `yaml:"bytes_per_series"`
	PricePerGBMonth *float64 `yaml:"price_per_gb_month"`
	Source          string   `yaml:"source"`
	Date            string   `yaml:"date"`
	Notes           string   `yaml:"notes"`
}

// Load reads a catalog file; path "" loads the built-in default.
func Load(path string) (*Catalog, error) {
	data := defaultCatalog
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read price catalog: %w", err)
		}
	}
	return Parse(data)
}

// Parse decodes and checks a catalog, reporting every problem at once.
func Parse(data []byte) (*Catalog, error) {
	var c Catalog
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse price catalog: %w", err)
	}
	var errs []error
	if c.Source == "" || c.Date == "" || c.Currency == "" {
		errs = append(errs, errors.New("price catalog: source, date and currency are required"))
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d]", i)
		if m.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", where))
		}
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("%s.name: duplicate model %q", where, m.Name))
		}
		seen[m.Name] = true
		if m.Source == "" || m.Date == "" {
			errs = append(errs, fmt.Errorf("%s: source and date are required", where))
		}
		switch m.Unit {
		case UnitPerSeriesMonth:
			if m.Per < 0 {
				errs = append(errs, fmt.Errorf("%s.per: must be positive", where))
			}
		case UnitPerGBIngested, UnitPerMillionDatapoints, UnitSelfHosted:
		default:
			errs = append(errs, fmt.Errorf("%s.unit: unknown unit %q", where, m.Unit))
		}
		for k, v := range map[string]*float64{"price": m.Price, "bytes_per_series": m.BytesPerSeries, "price_per_gb_month": m.PricePerGBMonth} {
			if v != nil && *v < 0 {
				errs = append(errs, fmt.Errorf("%s.%s: must not be negative", where, k))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// Model finds a model by name.
func (c *Catalog) Model(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

// Info describes the catalog for answers.
func (c *Catalog) Info() apiv1.CatalogInfo {
	return apiv1.CatalogInfo{Source: c.Source, Date: c.Date, Currency: c.Currency}
}

// Figures are what a stream measures; nil means unknown.
type Figures struct {
	ActiveSeries *float64
	DPPerS       *float64
	BytesPerS    *float64
}

// Monthly prices figures under model m: cost, or nil and the reason.
func Monthly(m Model, f Figures) (*float64, string) {
	secs := float64(HoursPerMonth * 3600)
	need := func(v *float64, what string) string {
		if v == nil {
			return what + " is unknown for this stream (not measured yet)"
		}
		return ""
	}
	var v float64
	switch m.Unit {
	case UnitPerSeriesMonth:
		if m.Price == nil {
			return nil, "catalog model " + m.Name + " has no price"
		}
		if r := need(f.ActiveSeries, "active_series"); r != "" {
			return nil, r
		}
		per := m.Per
		if per == 0 {
			per = 1
		}
		v = *f.ActiveSeries / per * *m.Price
	case UnitPerGBIngested:
		if m.Price == nil {
			return nil, "catalog model " + m.Name + " has no price"
		}
		if r := need(f.BytesPerS, "bytes_per_s"); r != "" {
			return nil, r
		}
		v = *f.BytesPerS * secs / 1e9 * *m.Price
	case UnitPerMillionDatapoints:
		if m.Price == nil {
			return nil, "catalog model " + m.Name + " has no price"
		}
		if r := need(f.DPPerS, "dp_per_s"); r != "" {
			return nil, r
		}
		v = *f.DPPerS * secs / 1e6 * *m.Price
	case UnitSelfHosted:
		if m.BytesPerSeries == nil || m.PricePerGBMonth == nil {
			return nil, "catalog model " + m.Name + " lacks bytes_per_series or price_per_gb_month"
		}
		if r := need(f.ActiveSeries, "active_series"); r != "" {
			return nil, r
		}
		v = *f.ActiveSeries * *m.BytesPerSeries / 1e9 * *m.PricePerGBMonth
	default:
		return nil, "unknown unit " + m.Unit
	}
	return &v, ""
}

// Report prices figures under one model ("" = all).
func (c *Catalog) Report(stream, model string, f Figures) (apiv1.CostReport, error) {
	rep := apiv1.CostReport{Stream: stream, ActiveSeries: f.ActiveSeries, DPPerS: f.DPPerS, BytesPerS: f.BytesPerS,
		Catalog: c.Info(), Models: []apiv1.ModelCost{}}
	models := c.Models
	if model != "" {
		m, ok := c.Model(model)
		if !ok {
			names := make([]string, len(c.Models))
			for i, m := range c.Models {
				names[i] = m.Name
			}
			return rep, fmt.Errorf("unknown price model %q (catalog has: %s)", model, strings.Join(names, ", "))
		}
		models = []Model{m}
	}
	for _, m := range models {
		v, reason := Monthly(m, f)
		rep.Models = append(rep.Models, apiv1.ModelCost{Model: m.Name, Unit: m.Unit, Source: m.Source, MonthlyCost: v, MonthlyCostUnknownReason: reason})
	}
	return rep, nil
}
