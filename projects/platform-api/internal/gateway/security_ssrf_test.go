package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/ssrf"
)

// mapResolver answers from a fixed table; nothing reaches DNS.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// refuseDialer records what would be dialed and never opens a connection.
type refuseDialer struct{ dialed []string }

func (d *refuseDialer) DialContext(_ context.Context, _, addr string) (net.Conn, error) {
	d.dialed = append(d.dialed, addr)
	return nil, errors.New("test dialer: no connections")
}

// TestSecuritySSRF: the outbound guard services build from the server config
// refuses the targets at dial time, and honours the admin allow list.
func TestSecuritySSRF(t *testing.T) {
	cfg := config.DefaultServer()
	cfg.Auth.SSRFAllowCIDRs = []string{"10.20.0.0/16"}
	d := &refuseDialer{}
	res := mapResolver{
		"loopback.example.test": {netip.MustParseAddr("127.0.0.1")},
		"internal.example.test": {netip.MustParseAddr("10.20.0.5")},
	}
	g, err := ssrf.New(cfg.Auth.SSRFAllowCIDRs, ssrf.WithResolver(res), ssrf.WithDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "10.0.0.1:80", "loopback.example.test:443"} {
		if _, err := g.DialContext(context.Background(), "tcp", target); !errors.Is(err, ssrf.ErrBlocked) {
			t.Errorf("%s: %v, want refused", target, err)
		}
	}
	if len(d.dialed) != 0 {
		t.Fatalf("refused targets reached the dialer: %v", d.dialed)
	}
	// The admin-allowed range reaches the (refusing) dialer.
	_, _ = g.DialContext(context.Background(), "tcp", "internal.example.test:443")
	if len(d.dialed) != 1 || d.dialed[0] != "10.20.0.5:443" {
		t.Fatalf("allowed range not dialed as its checked IP: %v", d.dialed)
	}
}
