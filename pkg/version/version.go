// Package version reports the build's version, commit and Go version. The
// values are stamped by the linker (see the Makefile's LDFLAGS).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags "-X github.com/phoenix-platform/phoenix/pkg/version.Version=...".
var (
	Version = "dev"
	Commit  = ""
)

// Info is the version triple shown by `phoenix version` and /api/v1/status.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get returns the build's version info, falling back to VCS data embedded by
// the go tool when the linker flags were not set.
func Get() Info {
	commit := Commit
	if commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return Info{Version: Version, Commit: commit, GoVersion: runtime.Version()}
}

func (i Info) String() string {
	return fmt.Sprintf("phoenix %s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}
