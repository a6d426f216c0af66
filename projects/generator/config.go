package generator

import "github.com/phoenix-platform/phoenix/pkg/config"

// Config is the generator section's settings (YAML `generator:`, flags
// --generator-*, env PHOENIX_GENERATOR_*).
type Config struct {
	// CollectorBin validates configs (`validate --config`). Empty: env
	// PHOENIX_COLLECTOR_BIN, else phoenix-collector beside the phoenix
	// executable, else on $PATH.
	CollectorBin string `yaml:"collector_bin" flag:"collector-bin" usage:"phoenix-collector executable used to validate configs (default: $PHOENIX_COLLECTOR_BIN, else beside the phoenix executable)"`
}

// DefaultConfig returns the generator defaults: the collector is looked up.
func DefaultConfig() Config { return Config{} }

// ConfigFrom returns the generator settings in cfg, registering the
// defaults on first use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceGenerator, DefaultConfig)
}

// Validate has nothing to check: an empty or missing collector only
// degrades the service (its health says why), it does not stop it.
func (c *Config) Validate() error { return nil }
