// Package loadsim is the loadsim project's entry point. Its features land with
// their issues; until then the service joins the bus and answers status.
package loadsim

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// New builds the loadsim service.
func New(s service.Settings) (service.Service, error) {
	return service.NewBasic(s, config.ServiceLoadsim), nil
}
