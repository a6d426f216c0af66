// Package analytics is the analytics project's entry point: metrics ingest
// (OTLP gRPC/HTTP, Prometheus remote write), cardinality accounting,
// rollups, cost and fidelity between experiment variants.
package analytics

import (
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/server"
)

// New builds the analytics service.
func New(s service.Settings) (service.Service, error) {
	svc, err := server.New(s)
	if err != nil {
		return nil, err
	}
	return svc, nil
}
