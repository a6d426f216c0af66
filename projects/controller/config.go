package controller

import (
	"errors"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
)

// Config is the controller section's own settings (YAML `controller:`,
// flags --controller-*, env PHOENIX_CONTROLLER_*). The OpAMP listen address
// and the --dev loop's settings in the same section are shared
// (config.Controller): the --dev agent and tests connect to them.
type Config struct {
	OpAMPOpen bool `yaml:"opamp_open" flag:"opamp-open" usage:"accept agents without a token (development only; --dev implies it)"`

	// OpAMP listener limits (issue 14 §4).
	OpAMPMaxMessageBytes    int64 `yaml:"opamp_max_message_bytes" flag:"opamp-max-message-bytes" usage:"largest AgentToServer message; a larger one closes the connection"`
	OpAMPMaxUnauthenticated int   `yaml:"opamp_max_unauthenticated" flag:"opamp-max-unauthenticated" usage:"OpAMP connections not yet authenticated; more are closed at accept"`

	// Adaptive control (issue 16): how often every enabled policy is
	// measured, and the bounds of its tables.
	AdaptiveInterval      time.Duration `yaml:"adaptive_interval" flag:"adaptive-interval" usage:"how often each enabled adaptive policy measures its stream and decides"`
	AdaptiveDecisionsKept int           `yaml:"adaptive_decisions_kept" flag:"adaptive-decisions-kept" usage:"decisions kept per adaptive policy; older ones are deleted"`
	AdaptiveMaxPolicies   int           `yaml:"adaptive_max_policies" flag:"adaptive-max-policies" usage:"most adaptive policies stored; creating more is refused"`
}

// DefaultConfig returns the controller defaults: agents need a token.
func DefaultConfig() Config {
	return Config{OpAMPMaxMessageBytes: 4 << 20, OpAMPMaxUnauthenticated: 1024,
		AdaptiveInterval: 30 * time.Second, AdaptiveDecisionsKept: 1000, AdaptiveMaxPolicies: 500}
}

// ConfigFrom returns the controller settings in cfg, registering the
// defaults on first use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceController, DefaultConfig)
}

// Validate reports every problem at once, naming each YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.OpAMPMaxMessageBytes <= 0 {
		errs = append(errs, errors.New("controller.opamp_max_message_bytes: must be positive"))
	}
	if c.OpAMPMaxUnauthenticated <= 0 {
		errs = append(errs, errors.New("controller.opamp_max_unauthenticated: must be positive"))
	}
	if c.AdaptiveInterval < time.Second {
		errs = append(errs, errors.New("controller.adaptive_interval: at least 1s"))
	}
	if c.AdaptiveDecisionsKept <= 0 {
		errs = append(errs, errors.New("controller.adaptive_decisions_kept: must be positive"))
	}
	if c.AdaptiveMaxPolicies <= 0 {
		errs = append(errs, errors.New("controller.adaptive_max_policies: must be positive"))
	}
	return errors.Join(errs...)
}
