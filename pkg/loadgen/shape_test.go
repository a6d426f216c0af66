package loadgen

import (
	"encoding/json"
	"flag"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/hostmetrics-process.golden.json from the real phoenix-collector")

const goldenPath = "testdata/hostmetrics-process.golden.json"

// shape is what the golden file pins: the parts of the process scraper's
// output a consumer depends on (not the values).
type shape struct {
	Comment            []string          `json:"_comment,omitempty"`
	SchemaURL          string            `json:"schema_url"`
	ScopeName          string            `json:"scope_name"`
	ResourceAttributes map[string]string `json:"resource_attributes"` // key -> string|int|double|bool
	Metrics            []metricShape     `json:"metrics"`
	// DefaultMetrics are those the scraper emits with no metrics: config
	// (metadata.yaml enabled: true); the others were enabled explicitly.
	DefaultMetrics []string `json:"default_metrics,omitempty"`
}

type metricShape struct {
	Name        string              `json:"name"`
	Unit        string              `json:"unit"`
	Type        string              `json:"type"`       // sum|gauge
	ValueType   string              `json:"value_type"` // int|double
	Temporality string              `json:"temporality,omitempty"`
	Monotonic   bool                `json:"monotonic"`
	Attributes  map[string][]string `json:"datapoint_attributes"` // key -> distinct values seen
}

func valueKind(v *commonpb.AnyValue) string {
	switch v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return "string"
	case *commonpb.AnyValue_IntValue:
		return "int"
	case *commonpb.AnyValue_DoubleValue:
		return "double"
	case *commonpb.AnyValue_BoolValue:
		return "bool"
	}
	return "other"
}

// shapeOf summarises process-scraper output (ResourceMetrics from other
// scopes are ignored, so a capture may include other receivers).
func shapeOf(t *testing.T, rms []*metricspb.ResourceMetrics) shape {
	t.Helper()
	s := shape{ResourceAttributes: map[string]string{}}
	byName := map[string]*metricShape{}
	for _, rm := range rms {
		for _, sm := range rm.GetScopeMetrics() {
			if sm.GetScope().GetName() != ScopeName {
				continue
			}
			s.ScopeName = sm.GetScope().GetName()
			if s.SchemaURL != "" && s.SchemaURL != rm.GetSchemaUrl() {
				t.Errorf("schema url differs between resources: %q vs %q", s.SchemaURL, rm.GetSchemaUrl())
			}
			s.SchemaURL = rm.GetSchemaUrl()
			for _, kv := range rm.GetResource().GetAttributes() {
				s.ResourceAttributes[kv.GetKey()] = valueKind(kv.GetValue())
			}
			for _, m := range sm.GetMetrics() {
				ms := byName[m.GetName()]
				if ms == nil {
					ms = &metricShape{Name: m.GetName(), Unit: m.GetUnit(), Attributes: map[string][]string{}}
					byName[m.GetName()] = ms
				}
				var dps []*metricspb.NumberDataPoint
				switch d := m.GetData().(type) {
				case *metricspb.Metric_Sum:
					ms.Type = "sum"
					ms.Temporality = temporality(d.Sum.GetAggregationTemporality())
					ms.Monotonic = d.Sum.GetIsMonotonic()
					dps = d.Sum.GetDataPoints()
				case *metricspb.Metric_Gauge:
					ms.Type = "gauge"
					dps = d.Gauge.GetDataPoints()
				default:
					t.Errorf("metric %s: unexpected type %T", m.GetName(), d)
				}
				for _, dp := range dps {
					switch dp.GetValue().(type) {
					case *metricspb.NumberDataPoint_AsInt:
						ms.ValueType = "int"
					case *metricspb.NumberDataPoint_AsDouble:
						ms.ValueType = "double"
					}
					for _, kv := range dp.GetAttributes() {
						v := kv.GetValue().GetStringValue()
						if !slices.Contains(ms.Attributes[kv.GetKey()], v) {
							ms.Attributes[kv.GetKey()] = append(ms.Attributes[kv.GetKey()], v)
						}
					}
				}
			}
		}
	}
	for _, ms := range byName {
		for _, vs := range ms.Attributes {
			sort.Strings(vs)
		}
		s.Metrics = append(s.Metrics, *ms)
	}
	sort.Slice(s.Metrics, func(i, j int) bool { return s.Metrics[i].Name < s.Metrics[j].Name })
	return s
}

func temporality(t metricspb.AggregationTemporality) string {
	switch t {
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE:
		return "cumulative"
	case metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA:
		return "delta"
	}
	return "unspecified"
}

func readGolden(t *testing.T) shape {
	t.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	var g shape
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	return g
}

// comparable drops the golden's documentation fields.
func comparable(s shape) shape {
	s.Comment, s.DefaultMetrics = nil, nil
	return s
}

func diffShape(t *testing.T, what string, want, got shape) {
	t.Helper()
	w, _ := json.MarshalIndent(comparable(want), "", "  ")
	g, _ := json.MarshalIndent(comparable(got), "", "  ")
	if string(w) != string(g) {
		t.Errorf("%s: shape differs from the golden file\n--- golden\n%s\n--- got\n%s", what, w, g)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func simulate(t testing.TB, profile string, hosts int, seed int64, defaultOnly bool) *Simulation {
	t.Helper()
	p, err := Builtin(profile)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Config{Profile: p, Hosts: hosts, Seed: seed, Start: t0, DefaultMetricsOnly: defaultOnly})
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// TestShapeMatchesGolden checks every built-in profile's output against the
// golden shape of the real process scraper plus resourcedetection.
func TestShapeMatchesGolden(t *testing.T) {
	golden := readGolden(t)
	for _, profile := range []string{ProfileRealistic, ProfileHighCardinality, ProfileProcessChurn, ProfileSpike} {
		t.Run(profile, func(t *testing.T) {
			sim := simulate(t, profile, 2, 7, false)
			var all []*metricspb.ResourceMetrics
			for k := range 3 {
				rms, err := sim.Scrape(t0.Add(time.Duration(k) * 10 * time.Second))
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, rms...)
			}
			diffShape(t, profile, golden, shapeOf(t, all))
		})
	}
	t.Run("default metrics only", func(t *testing.T) {
		sim := simulate(t, ProfileRealistic, 1, 7, true)
		rms, err := sim.Scrape(t0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range shapeOf(t, rms).Metrics {
			names = append(names, m.Name)
		}
		want := slices.Clone(golden.DefaultMetrics)
		sort.Strings(want)
		if !slices.Equal(names, want) {
			t.Errorf("default metrics: got %v, golden says %v", names, want)
		}
	})
}

// TestResourceAttributesPerProcess checks what the shape alone cannot: every
// process carries every resource attribute, PIDs are unique per host and
// parents exist.
func TestResourceAttributesPerProcess(t *testing.T) {
	golden := readGolden(t)
	sim := simulate(t, ProfileRealistic, 3, 1, false)
	rms, err := sim.Scrape(t0)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]map[int64]bool{}
	for _, rm := range rms {
		attrs := map[string]*commonpb.AnyValue{}
		for _, kv := range rm.GetResource().GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue()
		}
		if len(attrs) != len(golden.ResourceAttributes) {
			t.Fatalf("resource has %d attributes, golden %d: %v", len(attrs), len(golden.ResourceAttributes), attrs)
		}
		host := attrs["host.name"].GetStringValue()
		if pids[host] == nil {
			pids[host] = map[int64]bool{}
		}
		pid := attrs["process.pid"].GetIntValue()
		if pids[host][pid] {
			t.Errorf("host %s: pid %d twice", host, pid)
		}
		pids[host][pid] = true
		if n := attrs["process.executable.name"].GetStringValue(); n == "" || len(n) > 15 {
			t.Errorf("executable name %q: want 1 to 15 bytes like /proc/<pid>/status", n)
		}
	}
	for _, rm := range rms {
		var host string
		var ppid int64
		for _, kv := range rm.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "host.name":
				host = kv.GetValue().GetStringValue()
			case "process.parent_pid":
				ppid = kv.GetValue().GetIntValue()
			}
		}
		if ppid != 1 && !pids[host][ppid] {
			t.Errorf("host %s: parent pid %d is not a live process", host, ppid)
		}
	}
}
