// Command anomaly-detector runs the Phoenix anomaly detector on its own, for
// distributed deployments (--nats-url and --database-url point it at the
// shared servers). Run one instance: detector state is per process.
package main

import (
	"os"

	"github.com/phoenix-platform/phoenix/pkg/app"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
)

func main() { os.Exit(app.Main(anomalydetector.Registration())) }
