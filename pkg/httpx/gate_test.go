package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimitUnauthenticated: connections hold a slot until their handler
// calls Authenticated or they close; with every slot held the next
// connection is closed at accept and counted.
func TestLimitUnauthenticated(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "ok" {
			Authenticated(r.Context())
		}
	}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	srv.LimitUnauthenticated(2, func() { refused.Add(1) })
	srv.Start()
	defer func() {
		// Connections that never sent a request hold Shutdown up to 5 s.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	dial := func() net.Conn {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports whether the server closed c within d.
	closed := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	request := func(c net.Conn, auth string) {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: "+auth+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 12)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 200" {
			t.Fatalf("response %q, %v", buf, err)
		}
	}

	authed := dial()
	request(authed, "ok") // frees its slot, stays open
	idle1, idle2 := dial(), dial()
	request(idle2, "no") // served, but still unauthenticated
	if !closed(dial(), 5*time.Second) {
		t.Fatal("a third unauthenticated connection was kept")
	}
	if refused.Load() != 1 {
		t.Fatalf("refused %d, want 1", refused.Load())
	}
	if closed(idle1, 50*time.Millisecond) || closed(authed, 50*time.Millisecond) {
		t.Fatal("a connection within the cap was closed")
	}
	idle1.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c := dial()
		if !closed(c, 50*time.Millisecond) {
			break // the closed connection's slot was reused
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's slot was never freed")
		}
	}
}
