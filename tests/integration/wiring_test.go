package integration

import (
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// setExtraPorts moves every other listener a service opens to a free port.
// Services that add listeners add their settings here.
func setExtraPorts(t *testing.T, cfg *config.Server) {
	cfg.Controller.OpAMPAddr = testutil.FreeAddr(t)
}

// extraPortEnv is setExtraPorts for the binary: PHOENIX_* variables.
func extraPortEnv(t *testing.T) []string {
	return []string{"PHOENIX_CONTROLLER_OPAMP_ADDR=" + testutil.FreeAddr(t)}
}
