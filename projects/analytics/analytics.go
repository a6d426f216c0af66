// Package analytics is the analytics project's entry point: metrics ingest
// (OTLP gRPC/HTTP, Prometheus remote write), cardinality accounting,
// rollups, cost and fidelity between experiment variants.
package analytics

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/rollup"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/server"
)

// Registration is how a runner runs analytics: its settings (the analytics
// section) and its rollup tables.
func Registration() service.Registration {
	return service.Registration{
		Name:       config.ServiceAnalytics,
		New:        New,
		Config:     func() config.Section { c := DefaultConfig(); return &c },
		Migrations: rollup.Migrations(),
	}
}

// New builds the analytics service.
func New(s service.Settings) (service.Service, error) {
	svc, err := server.New(s)
	if err != nil {
		return nil, err
	}
	return svc, nil
}
