// Package anomalydetector is the anomaly-detector project's entry point. Its features land with
// their issues; until then the service joins the bus and answers status.
package anomalydetector

import (
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

// New builds the anomaly-detector service.
func New(s service.Settings) (service.Service, error) {
	return service.NewBasic(s, config.ServiceAnomalyDetector), nil
}
