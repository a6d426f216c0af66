// Package ssrf guards outbound requests to URLs users can set (webhooks,
// notification channels) against server-side request forgery: connections to
// loopback, private, link-local (including cloud metadata at
// 169.254.169.254), and other non-public ranges are refused unless an admin
// allowed the range.
//
// The check runs at dial time on the address actually dialed: the guard
// resolves the name once, checks every address, and dials the checked IP
// literal, so a redirect to an internal host and DNS rebinding (a name that
// resolves to a public address when validated and to 127.0.0.1 when used)
// are both refused. Validating the URL when it is saved is not enough.
//
// It stays in pkg/ although only platform-api's security test calls it
// today: the anomaly-detector's notification channels (webhooks, Slack) and
// loadsim's remote targets will dial user-set URLs through it, and projects
// may share only pkg/.
package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is returned (wrapped) for a refused destination.
var ErrBlocked = errors.New("destination not allowed")

// Resolver looks names up; *net.Resolver implements it. Tests inject one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections; *net.Dialer implements it. Tests inject one that
// never opens a connection.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Guard checks and dials outbound connections.
type Guard struct {
	allow    []netip.Prefix
	resolver Resolver
	dialer   Dialer
}

// Option configures a Guard.
type Option func(*Guard)

// WithResolver replaces the system resolver.
func WithResolver(r Resolver) Option { return func(g *Guard) { g.resolver = r } }

// WithDialer replaces the network dialer.
func WithDialer(d Dialer) Option { return func(g *Guard) { g.dialer = d } }

// New builds a guard; allowCIDRs are ranges an admin allowed despite being
// private (config auth.ssrf_allow_cidrs).
func New(allowCIDRs []string, opts ...Option) (*Guard, error) {
	g := &Guard{resolver: net.DefaultResolver}
	for _, c := range allowCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("ssrf allow list: %q: %w", c, err)
		}
		g.allow = append(g.allow, p.Masked())
	}
	for _, o := range opts {
		o(g)
	}
	if g.dialer == nil {
		// Control re-checks the address at connect time as a second line of
		// defence if a caller bypasses DialContext's resolution.
		g.dialer = &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
	}
	return g, nil
}

// blocked are ranges the standard library's predicates do not cover.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: could reach internal IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds any IPv4
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// Check reports whether ip may be dialed.
func (g *Guard) Check(ip netip.Addr) error {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBlocked)
	}
	for _, p := range g.allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return fmt.Errorf("%w: %s is a loopback, private, link-local or special address", ErrBlocked, ip)
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s is in reserved range %s", ErrBlocked, ip, p)
		}
	}
	return nil
}

// DialContext resolves address once, refuses it if any resolved address is
// blocked, and dials the checked IP literal.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("ssrf dial %s: %w", address, err)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = g.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("ssrf resolve %s: %w", host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("ssrf resolve %s: no addresses", host)
		}
	}
	// Every address must pass: a name with one public and one internal
	// record is refused rather than raced.
	for _, ip := range addrs {
		if err := g.Check(ip); err != nil {
			return nil, fmt.Errorf("dial %s: %w", host, err)
		}
	}
	var lastErr error
	for _, ip := range addrs {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// control is net.Dialer.Control: it sees the final IP:port before connect.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", ErrBlocked, address)
	}
	return g.Check(ap.Addr())
}

// CheckURL validates a URL when it is saved: http or https, a host, no
// credentials. The dial-time check still applies when it is used.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid URL: scheme must be http or https")
	}
	if u.Hostname() == "" {
		return fmt.Errorf("invalid URL: missing host")
	}
	if u.User != nil {
		return fmt.Errorf("invalid URL: credentials in URLs are not allowed; store them as a secret")
	}
	return nil
}

// maxRedirects bounds redirect chains.
const maxRedirects = 5

// Client returns an HTTP client whose every connection, including those
// made for redirects, goes through the guard. It ignores proxy settings
// (a proxy would dial on our behalf, unchecked).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to scheme %q", ErrBlocked, req.URL.Scheme)
			}
			return nil
		},
	}
}
