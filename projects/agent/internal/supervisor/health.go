package supervisor

import (
	"fmt"
	"net"
	"strings"

	"gopkg.in/yaml.v3"
)

// Health says how to ask a collector whether it is healthy.
type Health struct {
	URL string // the health_check extension's URL; empty when the config has none
}

// collectorConfig is the part of a collector config the agent reads.
type collectorConfig struct {
	Extensions map[string]struct {
		Endpoint string `yaml:"endpoint"`
		Path     string `yaml:"path"`
	} `yaml:"extensions"`
	Service struct {
		Extensions []string `yaml:"extensions"`
	} `yaml:"service"`
}

// HealthOf finds the health_check extension enabled in a collector config
// (defaults as upstream: 0.0.0.0:13133, path /) and returns the URL to poll
// on the loopback interface.
func HealthOf(cfg []byte) (Health, error) {
	var c collectorConfig
	if err := yaml.Unmarshal(cfg, &c); err != nil {
		return Health{}, fmt.Errorf("parse collector config: %w", err)
	}
	for _, id := range c.Service.Extensions {
		if id != "health_check" && !strings.HasPrefix(id, "health_check/") {
			continue
		}
		ext := c.Extensions[id]
		endpoint := ext.Endpoint
		if endpoint == "" {
			endpoint = "0.0.0.0:13133"
		}
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil {
			return Health{}, fmt.Errorf("extensions::%s::endpoint: %w", id, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" || host == "localhost" {
			host = "127.0.0.1"
		}
		path := ext.Path
		if path == "" {
			path = "/"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		return Health{URL: "http://" + net.JoinHostPort(host, port) + path}, nil
	}
	return Health{}, nil
}
