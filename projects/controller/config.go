package controller

import "github.com/phoenix-platform/phoenix/pkg/config"

// Config is the controller section's own settings (YAML `controller:`,
// flags --controller-*, env PHOENIX_CONTROLLER_*). The OpAMP listen address
// and the --dev loop's settings in the same section are shared
// (config.Controller): the --dev agent and tests connect to them.
type Config struct {
	OpAMPOpen bool `yaml:"opamp_open" flag:"opamp-open" usage:"accept agents without a token (development only; --dev implies it)"`
}

// DefaultConfig returns the controller defaults: agents need a token.
func DefaultConfig() Config { return Config{} }

// ConfigFrom returns the controller settings in cfg, registering the
// defaults on first use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceController, DefaultConfig)
}

// Validate has nothing to check: a bool is always valid.
func (c *Config) Validate() error { return nil }
