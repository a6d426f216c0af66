package platformapi

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
)

// Registration is how a runner runs the gateway and its identity tables. Its
// settings (the api and auth sections) stay shared in pkg/config for now:
// analytics reads auth.ingest_open and pkg/secrets auth.secret_key.
func Registration() service.Registration {
	return service.Registration{Name: config.ServicePlatformAPI, New: New, Migrations: identity.Migrations()}
}
