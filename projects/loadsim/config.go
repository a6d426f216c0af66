package loadsim

import (
	"errors"
	"fmt"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
)

// Self in loadsim.allowed_targets stands for this Phoenix's own ingest on
// loopback and the --dev collector's OTLP ports.
const Self = "self"

// Config is the loadsim section's settings (YAML `loadsim:`, flags
// --loadsim-*, env PHOENIX_LOADSIM_*): which targets the server may send
// synthetic load to, and how much.
type Config struct {
	AllowedTargets []string      `yaml:"allowed_targets" flag:"allowed-targets" usage:"comma-separated OTLP targets server-run simulations may send to (http(s)://host:port, grpc(s)://host:port); 'self' = this Phoenix's loopback ingest and the --dev collector"`
	MaxConcurrent  int           `yaml:"max_concurrent" flag:"max-concurrent" usage:"simulations running at once"`
	MaxDuration    time.Duration `yaml:"max_duration" flag:"max-duration" usage:"longest simulation the server runs"`
	MaxProcesses   int           `yaml:"max_processes" flag:"max-processes" usage:"hosts x peak processes per host allowed in one simulation"`
}

// DefaultConfig returns the loadsim defaults: only this Phoenix as a target.
func DefaultConfig() Config {
	return Config{AllowedTargets: []string{Self}, MaxConcurrent: 8, MaxDuration: 24 * time.Hour, MaxProcesses: 50_000}
}

// ConfigFrom returns the loadsim settings in cfg, registering the defaults
// on first use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceLoadsim, DefaultConfig)
}

// Validate reports every problem at once, naming each YAML key.
func (l *Config) Validate() error {
	var errs []error
	for _, t := range l.AllowedTargets {
		if t == Self {
			continue
		}
		if err := config.CheckURL(t, "http", "https", "grpc", "grpcs"); err != nil {
			errs = append(errs, fmt.Errorf("loadsim.allowed_targets: %w", err))
		}
	}
	if l.MaxConcurrent < 1 {
		errs = append(errs, errors.New("loadsim.max_concurrent: must be at least 1"))
	}
	if l.MaxDuration <= 0 {
		errs = append(errs, errors.New("loadsim.max_duration: must be positive"))
	}
	if l.MaxProcesses < 1 {
		errs = append(errs, errors.New("loadsim.max_processes: must be at least 1"))
	}
	return errors.Join(errs...)
}
