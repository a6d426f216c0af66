package usage

import (
	"sort"

	"github.com/prometheus/otlptranslator"
)

// The prometheusremotewrite exporter at contrib v0.160.0 names series with
// otlptranslator v1.0.0: MetricNamer{WithMetricSuffixes: true} (the
// exporter's add_metric_suffixes default) and LabelNamer with underscore
// sanitization. Using the same library gives the same names.
var (
	metricNamer = otlptranslator.MetricNamer{WithMetricSuffixes: true}
	//lint:ignore SA1019 the prometheusremotewrite exporter at v0.160.0 still sets it; matching names needs the same setting.
	labelNamer = otlptranslator.LabelNamer{UnderscoreLabelSanitization: true}
)

// PromName is the Prometheus name the exporter gives an OTel metric.
// typ is the inventory's type (gauge, sum, histogram,
// exponential_histogram, summary); monotonic applies to sums.
func PromName(name, unit, typ string, monotonic bool) string {
	n, err := metricNamer.Build(otlptranslator.Metric{Name: name, Unit: unit, Type: metricType(typ, monotonic)})
	if err != nil {
		return ""
	}
	return n
}

// PromLabel is the Prometheus label name of an OTel attribute.
func PromLabel(attr string) string {
	l, err := labelNamer.Build(attr)
	if err != nil {
		return attr
	}
	return l
}

// candidateUnits are the units tried when the inventory does not say a
// metric's unit: every unit the namer turns into a suffix, the common rate
// units, and none.
var candidateUnits = []string{
	"", "1", "%", "s", "ms", "us", "ns", "min", "h", "d", "By", "KiBy", "MiBy", "GiBy", "KBy", "MBy", "GBy",
	"By/s", "1/s", "Hz", "Cel", "V", "A", "J", "W", "m", "g",
}

// PromNames lists every name the exporter could give the metric when its
// unit (and, for sums, monotonicity) is unknown, sorted. Dashboards are
// matched against all of them; the suffixes are specific enough that
// distinct OTel metrics do not collide.
func PromNames(name, typ string) []string {
	seen := map[string]bool{}
	monos := []bool{false}
	if typ == "sum" || typ == "" {
		monos = []bool{true, false}
	}
	for _, u := range candidateUnits {
		for _, m := range monos {
			if n := PromName(name, u, typ, m); n != "" {
				seen[n] = true
			}
		}
	}
	// Histograms and summaries appear as _bucket/_sum/_count series.
	if typ == "histogram" || typ == "exponential_histogram" || typ == "summary" {
		for n := range seen {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				seen[n+suf] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func metricType(typ string, monotonic bool) otlptranslator.MetricType {
	switch typ {
	case "gauge":
		return otlptranslator.MetricTypeGauge
	case "sum":
		if monotonic {
			return otlptranslator.MetricTypeMonotonicCounter
		}
		return otlptranslator.MetricTypeNonMonotonicCounter
	case "histogram":
		return otlptranslator.MetricTypeHistogram
	case "exponential_histogram":
		return otlptranslator.MetricTypeExponentialHistogram
	case "summary":
		return otlptranslator.MetricTypeSummary
	}
	return otlptranslator.MetricTypeUnknown
}

// LookupOTel returns how dashboards use an OTel metric, trying every Prom
// name it could have; nil when unused.
func (s *Set) LookupOTel(name, typ string) *MetricUse {
	var out *MetricUse
	for _, pn := range PromNames(name, typ) {
		if u := s.Lookup(pn); u != nil {
			if out == nil {
				out = &MetricUse{Except: map[string]bool{}, Labels: map[string]bool{}}
				out.All = u.All
				for k := range u.Except {
					out.Except[k] = true
				}
				for k := range u.Labels {
					out.Labels[k] = true
				}
				continue
			}
			mergeUse(out, u)
		}
	}
	return out
}
