// Package collectortest finds the phoenix-collector binary for tests that
// validate configs with the real collector.
package collectortest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// Bin returns the collector binary: $PHOENIX_COLLECTOR_BIN, else
// bin/phoenix-collector at the repository root (built by
// `make build-collector`). When it is absent the test is skipped, except in
// CI (CI=true), where it fails.
func Bin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PHOENIX_COLLECTOR_BIN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if root := repoRoot(); root != "" {
		p := filepath.Join(root, "bin", "phoenix-collector")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "phoenix-collector binary not found: run `make build-collector` or set PHOENIX_COLLECTOR_BIN"
	if testutil.InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// repoRoot walks up from the working directory to the directory holding
// the root module's go.mod (the one with cmd/phoenix beside it).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "cmd", "phoenix")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
