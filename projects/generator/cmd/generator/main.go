// Command generator runs the Phoenix generator service on its own, for distributed
// deployments (--nats-url and --database-url point it at the shared servers).
package main

import (
	"os"

	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/projects/generator"
)

func main() { os.Exit(app.Main(generator.Registration())) }
