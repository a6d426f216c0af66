package auth

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAPIKeyRoundTrip(t *testing.T) {
	k, tok, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != APIKeyLen || !strings.HasPrefix(tok, "phx_") {
		t.Fatalf("token %q: bad shape", tok)
	}
	got, err := ParseAPIKey(tok)
	if err != nil {
		t.Fatalf("parse own key: %v", err)
	}
	if got != k {
		t.Fatalf("parsed %+v, want %+v", got, k)
	}
	if !HashMatches(HashAPIKey(tok), tok) {
		t.Fatal("hash does not match its own key")
	}
	// Flip one character of the secret: the checksum must catch it.
	b := []byte(tok)
	b[20] = map[bool]byte{true: 'a', false: 'b'}[b[20] != 'a']
	if _, err := ParseAPIKey(string(b)); !errors.Is(err, ErrMalformedKey) {
		t.Fatalf("tampered key accepted: %v", err)
	}
}

func TestParseAPIKeyTestdata(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "apikeys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		want, tok, _ := strings.Cut(line, " ")
		_, err := ParseAPIKey(tok)
		if (err == nil) != (want == "ok") {
			t.Errorf("ParseAPIKey(%q) err=%v, want %s", tok, err, want)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "apikeys.txt"))
	for _, line := range strings.Split(string(data), "\n") {
		if _, tok, ok := strings.Cut(line, " "); ok {
			f.Add(tok)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseAPIKey(s)
		if err != nil {
			return
		}
		if APIKeyPrefix+k.ID+k.Secret+checksum(APIKeyPrefix+k.ID+k.Secret) != s {
			t.Fatalf("accepted %q but it does not re-encode", s)
		}
	})
}

// testParams keep unit tests quick; production uses DefaultArgon2.
var testParams = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword(h, "correct horse battery"); !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(h, "correct horse batterx"); ok {
		t.Fatal("wrong password accepted")
	}
	d, err := HashPassword("x", DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default parameters not OWASP: %s", d)
	}
}

func TestParseHashTestdata(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "hashes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		want, h, _ := strings.Cut(line, " ")
		_, err := ParseHash(h)
		if (err == nil) != (want == "ok") {
			t.Errorf("ParseHash(%q) err=%v, want %s", h, err, want)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("testdata", "hashes.txt"))
	for _, line := range strings.Split(string(data), "\n") {
		if _, h, ok := strings.Cut(line, " "); ok {
			f.Add(h)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			return
		}
		if h.Params.MemoryKiB > maxMemoryKiB || h.Params.Time > maxTime || h.Params.Threads > maxThreads {
			t.Fatalf("bounds not enforced: %+v", h.Params)
		}
	})
}

var spec = TokenSpec{Issuer: "phoenix", Audience: "phoenix-api", TTL: 15 * time.Minute}

func keys(m map[string][]byte) KeyLookup {
	return func(kid string) ([]byte, bool) { s, ok := m[kid]; return s, ok }
}

func TestJWTNegatives(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k1 := SigningKey{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	lookup := keys(map[string][]byte{"k1": k1.Secret})
	good, err := SignAccessToken(k1, spec, "alice", "s1", "j1", now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := VerifyAccessToken(good, lookup, spec, now); err != nil || c.Subject != "alice" || c.SessionID != "s1" {
		t.Fatalf("good token refused: %v", err)
	}
	other := SigningKey{ID: "k1", Secret: []byte("another-secret-another-secret-xx")}
	wrongKey, _ := SignAccessToken(other, spec, "alice", "s1", "j1", now)
	unknownKid, _ := SignAccessToken(SigningKey{ID: "k9", Secret: k1.Secret}, spec, "alice", "s1", "j1", now)
	wrongAud, _ := SignAccessToken(k1, TokenSpec{Issuer: "phoenix", Audience: "other", TTL: time.Minute}, "alice", "s1", "j", now)
	wrongIss, _ := SignAccessToken(k1, TokenSpec{Issuer: "evil", Audience: "phoenix-api", TTL: time.Minute}, "alice", "s1", "j", now)
	future, _ := SignAccessToken(k1, spec, "alice", "s1", "j", now.Add(time.Hour))
	none := unsignedToken(t, now)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(payload), `"alice"`, `"admin"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2]

	cases := map[string]struct {
		tok string
		at  time.Time
	}{
		"alg none":       {none, now},
		"wrong key":      {wrongKey, now},
		"unknown kid":    {unknownKid, now},
		"expired":        {good, now.Add(16 * time.Minute)},
		"nbf in future":  {future, now},
		"wrong audience": {wrongAud, now},
		"wrong issuer":   {wrongIss, now},
		"tampered":       {tampered, now},
		"garbage":        {"not.a.jwt", now},
		"empty":          {"", now},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyAccessToken(c.tok, lookup, spec, c.at); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
}

// unsignedToken builds an alg=none token the way an attacker would.
func unsignedToken(t *testing.T, now time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: spec.Issuer, Subject: "alice", Audience: jwt.ClaimStrings{spec.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now)},
		SessionID: "s1",
	})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func FuzzVerifyAccessToken(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k1 := SigningKey{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	good, _ := SignAccessToken(k1, spec, "alice", "s1", "j1", now)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	lookup := keys(map[string][]byte{"k1": k1.Secret})
	f.Fuzz(func(t *testing.T, s string) {
		c, err := VerifyAccessToken(s, lookup, spec, now)
		if err == nil && (c.Subject == "" || c.SessionID == "") {
			t.Fatalf("accepted token without subject: %q", s)
		}
	})
}
