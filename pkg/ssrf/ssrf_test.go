package ssrf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeResolver answers from a map, in sequence per name (for rebinding).
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.answers[host]
	if len(seq) == 0 {
		return nil, fmt.Errorf("no such host %s", host)
	}
	a := seq[0]
	if len(seq) > 1 {
		r.answers[host] = seq[1:]
	}
	return a, nil
}

// fakeDialer never opens a connection: it records the address and hands
// back one end of a pipe served by handler.
type fakeDialer struct {
	mu      sync.Mutex
	dialed  []string
	handler func(req *http.Request) *http.Response
}

func (d *fakeDialer) DialContext(_ context.Context, _, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, address)
	d.mu.Unlock()
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		// One request per connection, then close: no idle connection (or
		// goroutine) outlives the test.
		req, err := http.ReadRequest(bufio.NewReader(server))
		if err != nil {
			return
		}
		res := d.handler(req)
		res.Request, res.Close = req, true
		_ = res.Write(server)
	}()
	return client, nil
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func TestCheckTargets(t *testing.T) {
	data, err := os.ReadFile("testdata/targets.txt")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := New(nil)
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verdict, a, _ := strings.Cut(line, " ")
		err := g.Check(netip.MustParseAddr(a))
		if (err == nil) != (verdict == "allow") {
			t.Errorf("%s: err=%v, want %s", a, err, verdict)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: error does not wrap ErrBlocked: %v", a, err)
		}
	}
}

func TestAdminAllowedRange(t *testing.T) {
	g, err := New([]string{"10.20.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(netip.MustParseAddr("10.20.3.4")); err != nil {
		t.Fatalf("allowed range refused: %v", err)
	}
	if err := g.Check(netip.MustParseAddr("10.21.0.1")); err == nil {
		t.Fatal("range outside the allow list passed")
	}
	if _, err := New([]string{"not-a-cidr"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}

func ok200(*http.Request) *http.Response {
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 0, Header: http.Header{}, Body: http.NoBody}
}

func TestDialTimeRefusals(t *testing.T) {
	res := &fakeResolver{answers: map[string][][]netip.Addr{
		"hooks.example.com":    {addrs("93.184.215.14")},
		"loopback.example.com": {addrs("127.0.0.1")},
		"mixed.example.com":    {addrs("93.184.215.14", "10.0.0.7")},
		"rebind.example.com":   {addrs("93.184.215.14"), addrs("127.0.0.1")},
		"metadata.example.com": {addrs("169.254.169.254")},
	}}
	d := &fakeDialer{handler: ok200}
	g, _ := New(nil, WithResolver(res), WithDialer(d))
	ctx := context.Background()
	for _, target := range []string{
		"127.0.0.1:80", "[::1]:80", "169.254.169.254:80", "10.1.2.3:443",
		"loopback.example.com:80", "mixed.example.com:443", "metadata.example.com:80",
	} {
		if _, err := g.DialContext(ctx, "tcp", target); !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want blocked", target, err)
		}
	}
	if len(d.dialed) != 0 {
		t.Fatalf("refused targets reached the dialer: %v", d.dialed)
	}
	// DNS rebinding: public when first used, loopback the next time.
	c, err := g.DialContext(ctx, "tcp", "rebind.example.com:80")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := g.DialContext(ctx, "tcp", "rebind.example.com:80"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("rebound name: %v", err)
	}
	// The checked IP literal is what gets dialed (no second resolution).
	if len(d.dialed) != 1 || d.dialed[0] != "93.184.215.14:80" {
		t.Fatalf("dialed %v", d.dialed)
	}
}

func TestRedirectToLoopbackRefused(t *testing.T) {
	res := &fakeResolver{answers: map[string][][]netip.Addr{"hooks.example.com": {addrs("93.184.215.14")}}}
	d := &fakeDialer{handler: func(*http.Request) *http.Response {
		return &http.Response{StatusCode: 302, ProtoMajor: 1, ProtoMinor: 1, ContentLength: 0,
			Header: http.Header{"Location": {"http://127.0.0.1:8080/api/v1/users"}}, Body: http.NoBody}
	}}
	g, _ := New(nil, WithResolver(res), WithDialer(d))
	_, err := g.Client(5 * time.Second).Get("http://hooks.example.com/webhook")
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("redirect to loopback: %v", err)
	}
	if len(d.dialed) != 1 {
		t.Fatalf("dialed %v: the redirect target must not be dialed", d.dialed)
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://hooks.slack.com/services/x": true,
		"http://example.com:8080/x":          true,
		"file:///etc/passwd":                 false,
		"gopher://127.0.0.1:25/":             false,
		"https://user:pw@example.com/":       false,
		"https:///nohost":                    false,
	} {
		if err := CheckURL(raw); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	data, _ := os.ReadFile("testdata/targets.txt")
	for _, line := range strings.Split(string(data), "\n") {
		if _, a, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			f.Add(a)
		}
	}
	g, _ := New(nil)
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		u := ip.Unmap()
		if g.Check(ip) == nil && (u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsUnspecified()) {
			t.Fatalf("%s passed", s)
		}
	})
}
