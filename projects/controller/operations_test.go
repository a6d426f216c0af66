package controller

import (
	"testing"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/adaptiveapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experimentapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleetapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rolloutapi"
)

// TestOperationsMatchSpec: the controller serves exactly the operations
// api/openapi.yaml gives it, and no experiment operation shadows a fleet
// one (operations merges two tables).
func TestOperationsMatchSpec(t *testing.T) {
	fleetOps, expOps := (&fleetapi.API{}).Operations(), (&experimentapi.API{}).Operations()
	roOps, adOps := (&rolloutapi.API{}).Operations(), (&adaptiveapi.API{}).Operations()
	ops := operations(&fleetapi.API{}, &experimentapi.API{}, &rolloutapi.API{}, &adaptiveapi.API{})
	if len(ops) != len(fleetOps)+len(expOps)+len(roOps)+len(adOps) {
		t.Fatalf("the merged table has %d operations, the fleet %d, experiments %d, rollouts %d and adaptive %d: a key is served twice",
			len(ops), len(fleetOps), len(expOps), len(roOps), len(adOps))
	}
	if err := apiv1.CheckServed(api.OpenAPI, config.ServiceController, ops.IDs()); err != nil {
		t.Fatal(err)
	}
}
