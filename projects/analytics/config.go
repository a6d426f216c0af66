package analytics

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/server"
)

// Config is the analytics section's own settings; it is declared beside the
// code that reads it (internal/server).
type Config = server.Config

// TeamQuota overrides the team quotas for one team (Config.TeamQuotas).
type TeamQuota = server.TeamQuota

// DefaultConfig returns the analytics defaults.
func DefaultConfig() Config { return server.DefaultConfig() }

// ConfigFrom returns the analytics settings in cfg, registering the
// defaults on first use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config { return server.ConfigFrom(cfg) }
