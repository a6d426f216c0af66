// Command platform-api runs the Phoenix gateway on its own, for distributed
// deployments (--nats-url and --database-url point it at the shared servers).
package main

import (
	"os"

	"github.com/phoenix-platform/phoenix/pkg/app"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

func main() { os.Exit(app.Main(platformapi.Registration())) }
