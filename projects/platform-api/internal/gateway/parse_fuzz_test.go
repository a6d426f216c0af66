package gateway

import (
	"strings"
	"testing"
)

func FuzzCursor(f *testing.F) {
	for _, s := range []string{"alice", "phx-key-id", "12345", "", strings.Repeat("x", 300)} {
		f.Add(s)
		f.Add(*encodeCursor(s))
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Any cursor a client sends decodes to at most 256 bytes or fails.
		if key, err := decodeCursor(s); err == nil && len(key) > 256 {
			t.Fatalf("cursor decoded to %d bytes", len(key))
		}
		// Our own cursors round-trip.
		if len(s) <= 256 {
			if key, err := decodeCursor(*encodeCursor(s)); err != nil || key != s {
				t.Fatalf("round trip of %q: %q %v", s, key, err)
			}
		}
	})
}

func TestParamNames(t *testing.T) {
	for pattern, want := range map[string]string{
		"/api/v1/users":                       "",
		"/api/v1/users/{user}":                "user",
		"/api/v1/teams/{team}/members/{user}": "team,user",
		"/api/v1/files/{path...}":             "path",
	} {
		if got := strings.Join(paramNames(pattern), ","); got != want {
			t.Errorf("%s: %q, want %q", pattern, got, want)
		}
	}
}
