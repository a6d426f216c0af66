// Command phoenix is Phoenix's single binary: the CLI and `phoenix server`,
// which runs every service in one process.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		// A command may ask for its own status (experiment run --wait:
		// 1 failed, 2 inconclusive, 3 error); everything else is 1.
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}
