// Command phoenix is Phoenix's single binary: the CLI and `phoenix server`,
// which runs every service in one process.
package main

import (
	"os"

	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
)

func main() {
	// Main runs a plugin (phoenix-<name> on PATH) or the command, prints the
	// error and maps it to the documented exit status (`phoenix help
	// exit-codes`: 1 failed, 2 inconclusive, 3 error, 4 usage).
	os.Exit(phoenixcli.Main(newRoot(), os.Args[1:], os.Stderr))
}
