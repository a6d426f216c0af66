package messaging

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// TestReplyOverMaxPayload runs a real NATS server with a small max_payload:
// a reply that fits arrives, and one the bus would drop comes back as a
// problem naming its size and the limit instead of a timeout (which the
// gateway turned into a 503 with nothing in the logs but "maximum payload
// exceeded").
func TestReplyOverMaxPayload(t *testing.T) {
	const maxPayload = 8 << 10
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, MaxPayload: maxPayload,
		JetStream: true, StoreDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(srv.Shutdown)
	b, err := Connect(context.Background(), Settings{URL: srv.ClientURL(), Name: "test-max-payload"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if got := b.Conn.MaxPayload(); got != maxPayload {
		t.Fatalf("connection max payload %d, want %d", got, maxPayload)
	}
	svc, err := b.AddService(ServiceConfig{
		Name: "big", Version: "1.0.0",
		Endpoints: []Endpoint{{Name: "get", Subject: "phoenix.test.big.get", Handler: func(_ context.Context, data []byte) (any, error) {
			var req struct {
				Size int `json:"size"`
			}
			if err := Decode(data, &req); err != nil {
				return nil, err
			}
			return map[string]string{"blob": strings.Repeat("x", req.Size)}, nil
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })

	tests := []struct {
		name     string
		size     int
		wantBlob bool
	}{
		{"small reply arrives", 1 << 10, true},
		{"reply just under the header room arrives", maxPayload - replyHeaderRoom - len(`{"blob":""}`), true},
		{"reply over the limit is a problem", maxPayload, false},
		{"reply far over the limit is a problem", 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The deadline only guards against a hang: without the fix the
			// request waits for it and fails as 503 unavailable.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out struct {
				Blob string `json:"blob"`
			}
			err := b.Request(ctx, "phoenix.test.big.get", map[string]int{"size": tt.size}, &out)
			if tt.wantBlob {
				if err != nil || len(out.Blob) != tt.size {
					t.Fatalf("got %d bytes, err %v; want %d bytes", len(out.Blob), err, tt.size)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("want a problem, got %v", err)
			}
			if p.Status != http.StatusInternalServerError || !strings.Contains(p.Detail, "reply too large") ||
				!strings.Contains(p.Detail, "bus limit of 8192") || !strings.Contains(p.Detail, "page or narrow the request") {
				t.Fatalf("problem %d %q, want 500 reply too large ... bus limit of 8192", p.Status, p.Detail)
			}
		})
	}
}
