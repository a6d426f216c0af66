// Package platformapi is the platform-api project's entry point: the
// gateway that serves the REST API, WebSocket events and the dashboard.
package platformapi

import (
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/gateway"
)

// New builds the platform-api service.
func New(s service.Settings) (service.Service, error) { return gateway.New(s) }
