//go:build unix && !linux

package supervisor

import "syscall"

// sysProcAttr puts the collector in its own process group; Pdeathsig is
// Linux-only, so elsewhere an agent killed with SIGKILL can orphan it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
