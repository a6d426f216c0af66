package security

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wsHandshake opens a WebSocket to the OpAMP listener by hand, so the test
// can then write a frame no client library would.
func wsHandshake(t *testing.T, p *phoenix, key string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.opamp, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second)) // hang guard
	fmt.Fprintf(conn, "GET /v1/opamp HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", p.opamp, key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("opamp handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("opamp handshake: %s", resp.Status)
	}
	return conn, br
}

// TestOpAMPHugeFrameRefused (issue 14 §4): an agent-scope key announcing a
// 256 MB WebSocket frame is cut off after the listener's message bound (4
// MiB), and the server's memory does not grow by the frame (before the
// bound it went from 309 MB to 1 GB). The listener still serves agents
// afterwards.
func TestOpAMPHugeFrameRefused(t *testing.T) {
	p := sharedPhoenix(t)
	key := p.teamKey(t, "opamp-a", "operator", "agent")
	conn, br := wsHandshake(t, p, key)
	before := p.rssBytes(t)

	// A binary frame header announcing 256 MiB, masked (as a client must)
	// with a zero key, then data until the server stops reading.
	const frame = 256 << 20
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, frame)
	hdr = append(hdr, 0, 0, 0, 0)
	if _, err := conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	const maxSent = 64 << 20 // a quarter of the frame: far past the bound
	sent := 0
	var writeErr error
	for sent < maxSent {
		var n int
		n, writeErr = conn.Write(chunk)
		sent += n
		if writeErr != nil {
			break
		}
	}
	// Either the writes failed (the server closed), or the server's close
	// frame or EOF is waiting to be read; never a server reading it all.
	if writeErr == nil {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // hang guard
		b, err := br.ReadByte()
		if err == nil && b&0x0f != 0x8 { // 0x8: a close frame
			t.Fatalf("after %d MiB of a 256 MiB frame the server neither closed nor refused (first byte %#x)", sent>>20, b)
		}
	}
	t.Logf("server stopped the frame after %d MiB sent (write error: %v)", sent>>20, writeErr)
	after := p.rssBytes(t)
	if grew := after - before; grew > 64<<20 {
		t.Errorf("server memory grew by %d MiB during a refused 256 MiB frame, want under 64 MiB", grew>>20)
	}
	// The listener still serves a well-behaved agent.
	wsHandshake(t, p, key)
}

// nested is {"a":{"a":...1}} depth levels deep.
func nested(depth int) string {
	return `{"endpoint":"collector:4317","a":` + strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth+1)
}

// TestDeepExporterConfigRefused (issue 14 §5): an exporter config nested
// 3,000 levels is refused with a problem naming the depth bound before any
// encoding or validation runs (before, each took up to 10 s and 518 MB, and
// four at once made generation answer 503 for everyone); four at once leave
// generation available to others.
func TestDeepExporterConfigRefused(t *testing.T) {
	p := sharedPhoenix(t)
	body := `{"template":"baseline","target":{"exporter":{"type":"otlp","config":` + nested(3000) + `}}}`
	var wg sync.WaitGroup
	results := make([]struct {
		status int
		body   string
	}, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, b := p.callRaw(http.MethodPost, "/api/v1/pipelines/generate", p.admin, body)
			results[i].status, results[i].body = status, string(b)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "nested deeper than 32 levels") {
			t.Errorf("deep config %d: %d %.300s, want 400 naming the depth bound", i, r.status, r.body)
		}
	}
	status, b := p.callRaw(http.MethodPost, "/api/v1/pipelines/generate", p.admin, `{"template":"baseline","target":{"exporter":{"type":"otlp","config":{"endpoint":"collector:4317"}}}}`)
	if status != http.StatusOK {
		t.Fatalf("a plain generate after the deep ones: %d %.300s, want 200", status, b)
	}
}

// TestSIGTERMUnderStalledClients (issue 14 §6): with clients stalled in the
// middle of request bodies on the API and the ingest port, SIGTERM still
// stops the server with exit status 0 and the stop recorded in its log.
func TestSIGTERMUnderStalledClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phoenix binary")
	}
	p, err := startPhoenix(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("server output:\n%s", tail(p.logs.String(), 40))
		}
	})
	stall := func(addr, path string) net.Conn {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"a\":", path, addr)
		return conn
	}
	stall(strings.TrimPrefix(p.api, "http://"), "/api/v1/auth/login")
	stall(p.otlpHTTP, "/v1/metrics")
	// A request on another connection completes while they stall. Whether
	// or not the server has read their headers yet when SIGTERM arrives,
	// it must not wait on them past its shutdown deadline.
	if login(p.api, "admin", adminPassword) == "" {
		t.Fatal("login beside the stalled clients failed")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("phoenix exited with %v under stalled clients, want status 0", err)
		}
	case <-time.After(90 * time.Second): // hang guard, far past the shutdown deadline
		t.Fatal("phoenix did not exit after SIGTERM")
	}
	if !strings.Contains(p.logs.String(), "msg=stopped") {
		t.Errorf("the stop is not recorded in the log:\n%s", tail(p.logs.String(), 20))
	}
}

// callRaw is call with a literal body and no test helper failing, for
// goroutines.
func (p *phoenix) callRaw(method, path, token, body string) (int, []byte) {
	req, err := http.NewRequest(method, p.api+path, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req) // hang guard
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
