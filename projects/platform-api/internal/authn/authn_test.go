package authn

import (
	"net/http"
	"strings"
	"testing"
)

func FuzzBearer(f *testing.F) {
	for _, h := range []string{"Bearer abc", "bearer phx_x", "Basic dXNlcg==", "Bearer", "Bearer  spaced  ", ""} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		tok := Bearer(r)
		if tok != "" && !strings.Contains(h, tok) {
			t.Fatalf("token %q not taken from header %q", tok, h)
		}
		if tok != strings.TrimSpace(tok) {
			t.Fatalf("token %q keeps surrounding space", tok)
		}
	})
}

func TestScopeGrants(t *testing.T) {
	for _, tt := range []struct {
		scopes []string
		need   string
		want   bool
	}{
		{[]string{"read"}, "read", true},
		{[]string{"read"}, "write", false},
		{[]string{"write"}, "read", true},
		{[]string{"admin"}, "write", true},
		{[]string{"admin"}, "ingest", false},
		{[]string{"ingest"}, "read", false},
		{[]string{"agent", "ingest"}, "agent", true},
		{[]string{"read"}, "", false},
		{nil, "read", false},
	} {
		if got := ScopeGrants(tt.scopes, tt.need); got != tt.want {
			t.Errorf("ScopeGrants(%v, %q) = %v, want %v", tt.scopes, tt.need, got, tt.want)
		}
	}
}
