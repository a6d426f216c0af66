package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
)

// API key layout: "phx_" + id (12) + secret (32) + checksum (6), all base62.
// The id is stored in clear to find the row; only a hash of the whole key is
// stored. The checksum lets secret scanners and the gateway reject a typo or
// a random string without a database lookup.
const (
	APIKeyPrefix   = "phx_"
	apiKeyIDLen    = 12
	apiKeySecLen   = 32
	apiKeySumLen   = 6
	APIKeyLen      = len(APIKeyPrefix) + apiKeyIDLen + apiKeySecLen + apiKeySumLen
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Scopes an API key may carry.
const (
	ScopeRead   = "read"
	ScopeWrite  = "write"
	ScopeIngest = "ingest"
	ScopeAgent  = "agent"
	ScopeAdmin  = "admin"
)

// AllScopes lists the valid scopes.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeIngest, ScopeAgent, ScopeAdmin}

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool {
	for _, x := range AllScopes {
		if x == s {
			return true
		}
	}
	return false
}

// ErrMalformedKey reports a string that is not a well-formed phx_ key.
var ErrMalformedKey = errors.New("malformed API key")

// APIKey is a parsed key.
type APIKey struct {
	ID     string
	Secret string
}

// NewAPIKey makes a random key; the returned token is shown to the user once.
func NewAPIKey() (APIKey, string, error) {
	id, err := randomBase62(apiKeyIDLen)
	if err != nil {
		return APIKey{}, "", err
	}
	sec, err := randomBase62(apiKeySecLen)
	if err != nil {
		return APIKey{}, "", err
	}
	body := APIKeyPrefix + id + sec
	return APIKey{ID: id, Secret: sec}, body + checksum(body), nil
}

// LooksLikeAPIKey is a cheap test used to choose between key and JWT parsing.
func LooksLikeAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }

// ParseAPIKey checks the prefix, length, alphabet and checksum.
func ParseAPIKey(token string) (APIKey, error) {
	if len(token) != APIKeyLen || !strings.HasPrefix(token, APIKeyPrefix) {
		return APIKey{}, ErrMalformedKey
	}
	rest := token[len(APIKeyPrefix):]
	for i := range len(rest) {
		if strings.IndexByte(base62Alphabet, rest[i]) < 0 {
			return APIKey{}, ErrMalformedKey
		}
	}
	body := token[:len(token)-apiKeySumLen]
	if subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(token[len(body):])) != 1 {
		return APIKey{}, ErrMalformedKey
	}
	return APIKey{ID: rest[:apiKeyIDLen], Secret: rest[apiKeyIDLen : apiKeyIDLen+apiKeySecLen]}, nil
}

// HashAPIKey is what the store keeps. The key carries 190 bits of entropy, so
// a fast hash suffices: no dictionary can reach it.
func HashAPIKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashMatches compares a stored hash with a presented key in constant time.
func HashMatches(stored, token string) bool {
	return subtle.ConstantTimeCompare([]byte(stored), []byte(HashAPIKey(token))) == 1
}

// checksum is the CRC-32 of body as 6 base62 digits.
func checksum(body string) string {
	n := crc32.ChecksumIEEE([]byte(body))
	var out [apiKeySumLen]byte
	for i := apiKeySumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// randomBase62 draws n uniform base62 characters (rejection sampling, so no
// modulo bias).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 { // 248 = 62*4
				out = append(out, base62Alphabet[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// RandomToken returns a URL-safe random string of n base62 characters, used
// for refresh tokens and ids.
func RandomToken(n int) (string, error) { return randomBase62(n) }
