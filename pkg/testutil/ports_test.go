package testutil

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortBelowEphemeralRange: ports come from below the kernel's own
// range, are bindable, and never repeat within the process.
func TestFreePortBelowEphemeralRange(t *testing.T) {
	lo, _ := ephemeralRange()
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if lo-minPort >= 1000 && (p < minPort || p >= lo) {
			t.Fatalf("port %d outside [%d, %d)", p, minPort, lo)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	addr := FreeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr %s not bindable: %v", addr, err)
	}
	ln.Close()
	if _, port, _ := net.SplitHostPort(addr); port == "" || port == strconv.Itoa(0) {
		t.Fatalf("FreeAddr %q has no port", addr)
	}
}
