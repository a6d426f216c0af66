package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) ObserveHTTP(route, method string, code int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, method+" "+route+" "+http.StatusText(code))
}

func TestWrap(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok/{id}", func(w http.ResponseWriter, r *http.Request) {
		if RequestID(r.Context()) == "" {
			t.Error("no request id in context")
		}
		WriteJSON(w, 200, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("bug") })
	mux.HandleFunc("POST /body", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Name string `json:"name"`
		}
		if err := DecodeJSON(r, &v); err != nil {
			WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := Wrap(mux, Options{Logger: logger, Metrics: rec, MaxBodyBytes: 64})

	tests := []struct {
		name, method, path, body string
		want                     int
		wantBody                 string
	}{
		{"ok", "GET", "/ok/42", "", 200, `"id":"42"`},
		{"panic becomes 500", "GET", "/panic", "", 500, "Internal Server Error"},
		{"strict json", "POST", "/body", `{"name":"a","role":"admin"}`, 400, "unknown field"},
		{"trailing data", "POST", "/body", `{"name":"a"} {}`, 400, "trailing"},
		{"too large", "POST", "/body", `{"name":"` + strings.Repeat("x", 100) + `"}`, 413, "over 64 bytes"},
		{"good body", "POST", "/body", `{"name":"a"}`, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, body))
			if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body.String(), tt.want, tt.wantBody)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id header")
			}
		})
	}
	if len(rec.calls) != len(tests) || rec.calls[0] != "GET GET /ok/{id} OK" {
		t.Fatalf("metrics calls %v", rec.calls)
	}
	if !strings.Contains(logs.String(), `"route":"GET /ok/{id}"`) || !strings.Contains(logs.String(), `"panic":"bug"`) {
		t.Fatalf("access log missing fields:\n%s", logs.String())
	}
}

func TestServerGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusOK)
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	result := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + srv.Addr())
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	close(release) // the in-flight request finishes during shutdown
	if code := <-result; code != http.StatusOK {
		t.Fatalf("in-flight request got %d, want 200", code)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	again, err := Listen(srv.Addr(), http.NotFoundHandler(), slog.Default())
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	again.ln.Close()
}

// TestShutdownBeforeStart: a start-up that fails after Listen releases the
// port instead of waiting for a server that never ran.
func TestShutdownBeforeStart(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := Listen(srv.Addr(), http.NotFoundHandler(), slog.Default())
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	again.ln.Close()
}

// TestShutdownCutsStalledRequests: a client that stalls its request (body
// or headers) against a real listener is cut before the caller's deadline,
// Shutdown reports no error, and the caller's ctx still has time left for
// the rest of its shutdown (issue 14: SIGTERM exited 1 after 10 s and the
// stop was never recorded).
func TestShutdownCutsStalledRequests(t *testing.T) {
	tests := []struct {
		name, send string
		inHandler  bool
	}{
		{"request body stalled", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nfirst bytes", true},
		{"headers stalled", "POST /upload HTTP/1.1\r\nHost: x\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered := make(chan struct{})
			readErr := make(chan error, 1)
			srv, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				_, err := io.ReadAll(r.Body)
				readErr <- err
			}), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			srv.Start()
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.inHandler {
				<-entered
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if ctx.Err() != nil {
				t.Fatal("shutdown used the caller's whole budget")
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("stalled connection not closed: %v", err)
			}
			if tt.inHandler {
				if err := <-readErr; err == nil {
					t.Fatal("the stalled body read completed")
				}
			}
		})
	}
}
