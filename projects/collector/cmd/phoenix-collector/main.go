// Command phoenix-collector is Phoenix's OpenTelemetry Collector distribution:
// upstream components pinned at one release plus Phoenix's cost-reduction
// processors. It serves every upstream subcommand (validate, components,
// featuregate, print-config).
package main

import "os"

func main() {
	// cobra has already printed the error; the exit code is what scripts and
	// the agent rely on.
	if err := newCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
