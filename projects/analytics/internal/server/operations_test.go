package server

import (
	"testing"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
)

// TestOperationsMatchSpec: analytics serves exactly the operations
// api/openapi.yaml gives it.
func TestOperationsMatchSpec(t *testing.T) {
	if err := apiv1.CheckServed(api.OpenAPI, config.ServiceAnalytics, (&Service{}).Operations().IDs()); err != nil {
		t.Fatal(err)
	}
}
