package integration

import (
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
	"github.com/phoenix-platform/phoenix/projects/loadsim"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

// factories mirrors cmd/phoenix's composition root.
func factories() map[string]service.Factory {
	return map[string]service.Factory{
		config.ServiceAnalytics:       analytics.New,
		config.ServiceGenerator:       generator.New,
		config.ServiceController:      controller.New,
		config.ServiceAnomalyDetector: anomalydetector.New,
		config.ServiceLoadsim:         loadsim.New,
		config.ServicePlatformAPI:     platformapi.New,
	}
}

// setExtraPorts moves every other listener a service opens to a free port.
// Services that add listeners add their settings here.
func setExtraPorts(t *testing.T, cfg *config.Server) {
	cfg.Controller.OpAMPAddr = testutil.FreeAddr(t)
}

// extraPortEnv is setExtraPorts for the binary: PHOENIX_* variables.
func extraPortEnv(t *testing.T) []string {
	return []string{"PHOENIX_CONTROLLER_OPAMP_ADDR=" + testutil.FreeAddr(t)}
}
