package supervisor

import "syscall"

// sysProcAttr puts the collector in its own process group (so it and any
// child can be signalled together, and a terminal's Ctrl-C reaches only the
// agent, which then stops it cleanly) and asks the kernel to kill it if the
// agent dies without stopping it (Pdeathsig), so no collector is orphaned.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
