package platformapi

import (
	"io/fs"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/gateway"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
)

// Registration is how a runner runs the gateway and its identity tables. Its
// settings (the api and auth sections) stay shared in pkg/config for now:
// analytics reads auth.ingest_open and pkg/secrets auth.secret_key.
func Registration() service.Registration {
	return service.Registration{Name: config.ServicePlatformAPI, New: New, Migrations: identity.Migrations()}
}

// RegistrationWithUI is Registration serving the dashboard from ui (built
// false: ui holds only placeholder, shown for every page). The composition
// root passes the embedded build, so this project imports no other
// (docs/decisions/0020-dashboard-embedding.md).
func RegistrationWithUI(ui fs.FS, built bool, placeholder string) service.Registration {
	r := Registration()
	r.New = func(s service.Settings) (service.Service, error) {
		return gateway.NewWith(s, gateway.WithUI(ui, built, placeholder))
	}
	return r
}
