package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SigningAlg is the only algorithm Phoenix signs or accepts. Pinning it
// defeats "alg": "none" and algorithm-confusion attacks.
const SigningAlg = "HS256"

// Claims are the access token's claims: the registered ones plus the session
// id, so logout can revoke every token of a session.
type Claims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// SigningKey is one HMAC key, named by its kid.
type SigningKey struct {
	ID     string
	Secret []byte
}

// KeyLookup returns the verification secret for a kid; false when the kid is
// unknown or retired.
type KeyLookup func(kid string) ([]byte, bool)

// TokenSpec says what to put in and demand of a token.
type TokenSpec struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// ErrInvalidToken wraps every verification failure; callers answer 401
// without saying which check failed.
var ErrInvalidToken = errors.New("invalid token")

// SignAccessToken issues a token for subject in session sid.
func SignAccessToken(key SigningKey, spec TokenSpec, subject, sid, jti string, now time.Time) (string, error) {
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: spec.Issuer, Subject: subject, Audience: jwt.ClaimStrings{spec.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(spec.TTL)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: jti,
		},
		SessionID: sid,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = key.ID
	s, err := t.SignedString(key.Secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// VerifyAccessToken checks signature (HS256 only, key by kid), exp (required),
// nbf, iat, iss and aud.
func VerifyAccessToken(token string, keys KeyLookup, spec TokenSpec, now time.Time) (*Claims, error) {
	var c Claims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{SigningAlg}),
		jwt.WithIssuer(spec.Issuer),
		jwt.WithAudience(spec.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("missing kid")
		}
		secret, ok := keys(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return secret, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.SessionID == "" || c.NotBefore == nil {
		return nil, fmt.Errorf("%w: missing sub, sid or nbf", ErrInvalidToken)
	}
	return &c, nil
}
