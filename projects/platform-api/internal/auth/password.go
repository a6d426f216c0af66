package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is the OWASP recommendation: m=19 MiB, t=2, p=1.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Bounds for stored parameters: a tampered hash must not make a login
// allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 256 * 1024
	maxTime      = 10
	maxThreads   = 16
	saltLen      = 16
	keyLen       = 32
	// MinPasswordLen is the shortest password accepted for a user.
	MinPasswordLen = 12
	// MaxPasswordLen bounds the hashing input.
	MaxPasswordLen = 256
)

// ErrMalformedHash reports a stored hash that is not argon2id PHC format.
var ErrMalformedHash = errors.New("malformed password hash")

// HashPassword returns the PHC string $argon2id$v=19$m=..,t=..,p=..$salt$key.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// ParsedHash is a decoded PHC string.
type ParsedHash struct {
	Params Argon2Params
	Salt   []byte
	Key    []byte
}

// ParseHash decodes and bounds-checks a PHC argon2id string.
func ParseHash(encoded string) (ParsedHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ParsedHash{}, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return ParsedHash{}, ErrMalformedHash
	}
	var m, t uint32
	var th uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 {
		return ParsedHash{}, ErrMalformedHash
	}
	if m < 8 || m > maxMemoryKiB || t < 1 || t > maxTime || th < 1 || th > maxThreads {
		return ParsedHash{}, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return ParsedHash{}, ErrMalformedHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return ParsedHash{}, ErrMalformedHash
	}
	return ParsedHash{Params: Argon2Params{MemoryKiB: m, Time: t, Threads: th}, Salt: salt, Key: key}, nil
}

// VerifyPassword reports whether password matches the stored hash.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := ParseHash(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.MemoryKiB, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(got, h.Key) == 1, nil
}

// CheckPasswordPolicy answers why a new password is refused, or "".
func CheckPasswordPolicy(password string) string {
	switch {
	case len(password) < MinPasswordLen:
		return fmt.Sprintf("must be at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Sprintf("must be at most %d characters", MaxPasswordLen)
	}
	return ""
}
