package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/config"
)

func TestSealOpen(t *testing.T) {
	s, err := New(bytes.Repeat([]byte{7}, KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("xoxb-webhook-token"), "webhook:1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(sealed), []byte("xoxb")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := s.Open(sealed, "webhook:1")
	if err != nil || string(got) != "xoxb-webhook-token" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open(sealed, "webhook:2"); !errors.Is(err, ErrOpen) {
		t.Fatal("value opened under another context")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeyLen))
	if _, err := other.Open(sealed, "webhook:1"); !errors.Is(err, ErrOpen) {
		t.Fatal("value opened with another key")
	}
	b := []byte(sealed)
	b[len(b)-2] ^= 1
	if _, err := s.Open(string(b), "webhook:1"); !errors.Is(err, ErrOpen) {
		t.Fatal("tampered value opened")
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := New(bytes.Repeat([]byte{7}, KeyLen))
	v, _ := s.Seal([]byte("secret"), "a")
	f.Add(v)
	f.Add("v1:")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, in string) {
		// Arbitrary input never opens except the one real ciphertext, and
		// anything sealed opens back to itself.
		if pt, err := s.Open(in, "a"); err == nil && string(pt) != "secret" {
			t.Fatalf("forged value opened: %q", in)
		}
		sealed, err := s.Seal([]byte(in), "a")
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.Open(sealed, "a"); err != nil || string(pt) != in {
			t.Fatalf("round trip of %q: %q %v", in, pt, err)
		}
	})
}

func TestKeyFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultServer()
	cfg.DataDir = dir
	// Several services start at once in all-in-one: they must agree.
	keys := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := KeyFromConfig(&cfg)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("services generated different keys")
		}
	}
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	shared := cfg
	shared.DatabaseURL = "postgres://db/phoenix"
	if _, err := KeyFromConfig(&shared); err == nil {
		t.Fatal("shared database without PHOENIX_SECRET_KEY accepted")
	}
	shared.Auth.SecretKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if k, err := KeyFromConfig(&shared); err != nil || len(k) != KeyLen {
		t.Fatalf("explicit key: %v", err)
	}
	shared.Auth.SecretKey = "c2hvcnQ="
	if _, err := KeyFromConfig(&shared); err == nil {
		t.Fatal("short key accepted")
	}
}
