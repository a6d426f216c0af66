// Package secrets encrypts secrets users store (webhook tokens, vendor API
// keys, JWT signing keys) at rest with AES-256-GCM. Every service resolves
// the key the same way (KeyFromConfig), so a value sealed by one service
// opens in another.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/config"
)

// KeyLen is the AES-256 key length.
const KeyLen = 32

// version prefixes every sealed value so the format can change later.
const version = "v1:"

// KeyFileName is the generated key's file in the data dir (all-in-one only).
const KeyFileName = "secret.key"

// ErrOpen reports a value that does not decrypt: wrong key, wrong context
// (aad) or tampering.
var ErrOpen = errors.New("secret does not decrypt")

// Sealer encrypts and decrypts small values.
type Sealer struct{ aead cipher.AEAD }

// New returns a sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext. aad binds the ciphertext to its context (e.g.
// "webhook:<id>") so a sealed value cannot be moved to another row.
func (s *Sealer) Seal(plaintext []byte, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return version + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same aad.
func (s *Sealer) Open(sealed, aad string) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return nil, ErrOpen
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrOpen
	}
	n := s.aead.NonceSize()
	pt, err := s.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeyLen {
				return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeyLen, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("secret key: not base64")
}

// KeyFromConfig returns the key from auth.secret_key / PHOENIX_SECRET_KEY.
// Without one, an all-in-one process (embedded SQLite) uses DataDir/secret.key,
// creating it with mode 0600 on first use; a process on a shared database
// refuses to start, because replicas must share one key.
func KeyFromConfig(cfg *config.Server) ([]byte, error) {
	if cfg.Auth.SecretKey != "" {
		return ParseKey(cfg.Auth.SecretKey)
	}
	if cfg.DatabaseURL != "" && !strings.HasPrefix(cfg.DatabaseURL, "sqlite://") {
		return nil, errors.New("auth.secret_key: PHOENIX_SECRET_KEY must be set when the database is shared (generate one with: head -c32 /dev/urandom | base64)")
	}
	return LoadOrCreateKeyFile(filepath.Join(cfg.DataDir, KeyFileName))
}

// SealerFromConfig is KeyFromConfig followed by New.
func SealerFromConfig(cfg *config.Server) (*Sealer, error) {
	key, err := KeyFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	return New(key)
}

// LoadOrCreateKeyFile reads a base64 key file, creating it (0600, exclusive,
// so two services starting together agree on one key) when absent.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return ParseKey(string(b))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create secret key dir: %w", err)
	}
	key := make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	// Write a temporary file, then hard-link it into place: the link either
	// publishes a complete key or fails because another service published
	// one first, in which case that key wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			b, rerr := os.ReadFile(path)
			if rerr != nil {
				return nil, fmt.Errorf("read secret key: %w", rerr)
			}
			return ParseKey(string(b))
		}
		return nil, fmt.Errorf("publish secret key: %w", err)
	}
	return key, nil
}
