// Package services is the composition root's list of the services `phoenix
// server` runs. It is the one place that names them all: cmd/phoenix builds
// the server command from it and tests/integration starts the same list.
package services

import (
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/dashboard"
	"github.com/phoenix-platform/phoenix/projects/generator"
	"github.com/phoenix-platform/phoenix/projects/loadsim"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

// All returns every service in start order: the services the gateway routes
// to come up before it; the anomaly detector asks analytics for breakdowns.
func All() []service.Registration {
	return []service.Registration{
		analytics.Registration(),
		anomalydetector.Registration(),
		generator.Registration(),
		controller.Registration(),
		loadsim.Registration(),
		platformAPI(),
	}
}

// platformAPI is the gateway serving the embedded dashboard.
func platformAPI() service.Registration {
	ui, built := dashboard.Files()
	return platformapi.RegistrationWithUI(ui, built, dashboard.Placeholder)
}
