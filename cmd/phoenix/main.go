// Command phoenix is Phoenix's single binary: the CLI and `phoenix server`,
// which runs every service in one process.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
