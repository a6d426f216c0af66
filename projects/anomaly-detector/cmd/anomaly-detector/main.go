// Command anomaly-detector runs the Phoenix anomaly-detector service on its own, for distributed
// deployments (--nats-url and --database-url point it at the shared servers).
package main

import (
	"os"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
)

func main() { os.Exit(app.Main(config.ServiceAnomalyDetector, anomalydetector.New)) }
