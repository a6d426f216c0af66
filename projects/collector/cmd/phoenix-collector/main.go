// Command phoenix-collector is Phoenix's OpenTelemetry Collector distribution:
// upstream components pinned at one release plus Phoenix's cost-reduction
// processors. It accepts every upstream subcommand (validate, components,
// featuregate, print-config).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		// cobra has already printed the error; the exit code is what scripts
		// (and the agent) rely on.
		fmt.Fprintln(os.Stderr, "phoenix-collector:", err)
		os.Exit(1)
	}
}
