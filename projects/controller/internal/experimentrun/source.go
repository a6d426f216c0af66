package experimentrun

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
)

// Setup is what an experiment config keeps of the agent's production
// config: its receivers and the collector's own ports.
type Setup struct {
	Source        pipelinegen.Source
	TelemetryAddr string // "" when the config names none
	HealthAddr    string // "" when the config has no health_check
}

// SetupOf reads the receiver side and the collector's ports from a
// collector config: the first hostmetrics or otlp receiver (by id order),
// the health_check extension's endpoint and the pull reader's address. ok
// is false when the config has no receiver an experiment can reuse.
func SetupOf(config []byte) (Setup, bool, error) {
	var doc struct {
		Receivers  map[string]map[string]any `yaml:"receivers"`
		Extensions map[string]map[string]any `yaml:"extensions"`
		Service    struct {
			Extensions []string `yaml:"extensions"`
			Telemetry  struct {
				Metrics struct {
					Address string `yaml:"address"`
					Readers []struct {
						Pull struct {
							Exporter struct {
								Prometheus struct {
									Host string `yaml:"host"`
									Port int    `yaml:"port"`
								} `yaml:"prometheus"`
							} `yaml:"exporter"`
						} `yaml:"pull"`
					} `yaml:"readers"`
				} `yaml:"metrics"`
			} `yaml:"telemetry"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return Setup{}, false, fmt.Errorf("read the production config: %w", err)
	}
	var s Setup
	found := false
	for _, id := range sortedKeys(doc.Receivers) {
		r := doc.Receivers[id]
		switch componentType(id) {
		case "hostmetrics", "host_metrics":
			s.Source = pipelinegen.Source{Kind: pipelinegen.SourceHostMetrics, CollectionInterval: str(r["collection_interval"])}
			found = true
		case "otlp":
			p, _ := r["protocols"].(map[string]any)
			s.Source = pipelinegen.Source{Kind: pipelinegen.SourceOTLP, GRPCEndpoint: endpoint(p, "grpc"), HTTPEndpoint: endpoint(p, "http")}
			found = true
		}
		if found {
			break
		}
	}
	for _, id := range doc.Service.Extensions {
		if componentType(id) == "health_check" {
			s.HealthAddr = str(doc.Extensions[id]["endpoint"])
		}
	}
	m := doc.Service.Telemetry.Metrics
	if len(m.Readers) > 0 {
		if p := m.Readers[0].Pull.Exporter.Prometheus; p.Port > 0 {
			s.TelemetryAddr = net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
		}
	} else if m.Address != "" {
		s.TelemetryAddr = m.Address
	}
	return s, found, nil
}

// componentType is the type part of a component id ("otlp/in" -> otlp).
func componentType(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}

func endpoint(protocols map[string]any, name string) string {
	p, _ := protocols[name].(map[string]any)
	return str(p["endpoint"])
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
