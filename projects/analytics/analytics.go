// Package analytics is the analytics project's entry point. Its features land with
// their issues; until then the service joins the bus and answers status.
package analytics

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// New builds the analytics service.
func New(s service.Settings) (service.Service, error) {
	return service.NewBasic(s, config.ServiceAnalytics), nil
}
