// Command analytics runs the Phoenix analytics service on its own, for distributed
// deployments (--nats-url and --database-url point it at the shared servers).
package main

import (
	"os"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/projects/analytics"
)

func main() { os.Exit(app.Main(analytics.Registration())) }
