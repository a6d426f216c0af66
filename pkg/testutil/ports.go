// Package testutil holds helpers for Phoenix's tests: free ports, polling,
// and the external servers (PostgreSQL, NATS) tests run against.
package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1.
// Tests never use fixed ports.
//
// The port is drawn at random from below the kernel's ephemeral range
// (ip_local_port_range, 32768-60999 by default), never twice in one process.
// A port the kernel hands out for ":0" or for an outgoing connection comes
// from that range, and go test runs packages in parallel: between this
// check and the test's own bind, another test process's connection could
// take a port from it (CI once failed on "address already in use" so).
func FreePort(t testing.TB) int {
	t.Helper()
	lo, _ := ephemeralRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	if lo-minPort >= 1000 {
		for range 200 {
			p := minPort + rand.IntN(lo-minPort)
			if portsHanded[p] {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				continue // in use
			}
			ln.Close()
			portsHanded[p] = true
			return p
		}
	}
	// The range below is too small or full: let the kernel choose.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// minPort is the lowest port FreePort draws: above the well-known and most
// registered service ports a developer machine runs (PostgreSQL, NATS, Redis).
const minPort = 15000

var (
	portsMu     sync.Mutex
	portsHanded = map[int]bool{}
)

// ephemeralRange is the kernel's range for ports it assigns itself, the
// Linux default where it cannot be read.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l <= 0 || h < l {
		return lo, hi
	}
	return l, h
}

// FreeAddr returns "127.0.0.1:<free port>" (see FreePort).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
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
