// Package testutil holds helpers for Phoenix's tests: free ports, polling,
// and the external servers (PostgreSQL, NATS) tests run against.
package testutil

import (
	"net"
	"os"
	"testing"
	"time"
)

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
// Tests never use fixed ports.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns "127.0.0.1:<free port>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Eventually polls cond every 20 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within "+timeout.String()+": "+msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// InCI reports whether CI=true: external-server tests must run there.
func InCI() bool { return os.Getenv("CI") == "true" }
