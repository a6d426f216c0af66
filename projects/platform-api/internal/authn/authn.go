// Package authn resolves credentials to callers: JWT access tokens signed
// with rotating keys (sealed in the identity store) and phx_ API keys, with a
// short cache and the shared revocation list. Authorization (roles, scopes of
// an operation) is the gateway's, from the OpenAPI document.
package authn

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/secrets"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
)

// cacheTTL bounds how long a resolved credential is reused without asking
// the database: revocations, role and team changes take effect within it.
const cacheTTL = time.Second

// cacheMax bounds the credential cache; when full it is emptied.
const cacheMax = 10_000

// keyReloadEvery paces re-reading the signing keys (rotation by another
// replica); an unknown kid triggers a reload at most once per second.
const keyReloadEvery = 30 * time.Second

// Result is an authenticated caller.
type Result struct {
	Principal apiv1.Principal
	SessionID string // JWT callers
	KeyID     string // API key callers
	RateLimit int    // per-minute override for API keys (0: configured default)
}

type cached struct {
	res     Result
	keyHash string // API keys: the stored hash, compared on every use
	expires time.Time
	at      time.Time
}

// ErrUnauthorized is the one answer for every bad credential: saying which
// check failed would help an attacker.
func ErrUnauthorized() *problem.Error {
	return problem.Unauthorized("missing, invalid, expired or revoked credentials")
}

// Store is what authentication reads from (and, for signing keys, writes
// to) the identity store.
type Store interface {
	SigningKeys(ctx context.Context) ([]identity.SigningKey, error)
	AddSigningKey(ctx context.Context, k identity.SigningKey, retireOld time.Time) error
	GetAPIKey(ctx context.Context, id string) (identity.APIKey, error)
	GetSession(ctx context.Context, id string) (identity.Session, error)
	GetUser(ctx context.Context, username string) (identity.User, error)
}

// Revocations is the shared revocation list (ratelimit.State).
type Revocations interface {
	Revoked(ctx context.Context, id string) (bool, error)
}

// Authenticator resolves tokens to callers and signs access tokens.
type Authenticator struct {
	store  Store
	shared Revocations
	sealer *secrets.Sealer
	spec   auth.TokenSpec
	logger *slog.Logger
	now    func() time.Time

	mu         sync.Mutex
	cache      map[string]cached
	keys       map[string]keyEntry
	current    auth.SigningKey
	lastReload time.Time
}

type keyEntry struct {
	secret   []byte
	retireAt *time.Time
}

// New loads the signing keys, creating the first one on a fresh database.
func New(ctx context.Context, st Store, sh Revocations, sealer *secrets.Sealer, spec auth.TokenSpec, logger *slog.Logger) (*Authenticator, error) {
	a := &Authenticator{store: st, shared: sh, sealer: sealer, spec: spec, logger: logger, now: time.Now, cache: map[string]cached{}}
	if err := a.reloadKeys(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	missing := a.current.ID == ""
	a.mu.Unlock()
	if missing {
		if _, err := a.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// reloadKeys reads the signing keys; the newest unretired one signs.
func (a *Authenticator) reloadKeys(ctx context.Context) error {
	rows, err := a.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	keys := map[string]keyEntry{}
	var cur auth.SigningKey
	for _, r := range rows {
		if r.RetireAt != nil && !now.Before(*r.RetireAt) {
			continue
		}
		secret, err := a.sealer.Open(r.Secret, "signing_key:"+r.KID)
		if err != nil {
			return fmt.Errorf("signing key %s: %w (is PHOENIX_SECRET_KEY the one it was created with?)", r.KID, err)
		}
		keys[r.KID] = keyEntry{secret: secret, retireAt: r.RetireAt}
		if r.RetireAt == nil {
			cur = auth.SigningKey{ID: r.KID, Secret: secret}
		}
	}
	a.mu.Lock()
	a.keys, a.current, a.lastReload = keys, cur, now
	a.mu.Unlock()
	return nil
}

// Rotate makes a new signing key; older keys keep verifying until every
// token they signed has expired.
func (a *Authenticator) Rotate(ctx context.Context) (string, error) {
	kid, err := auth.RandomToken(16)
	if err != nil {
		return "", err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	sealed, err := a.sealer.Seal(secret, "signing_key:"+kid)
	if err != nil {
		return "", err
	}
	now := a.now()
	if err := a.store.AddSigningKey(ctx, identity.SigningKey{KID: kid, Secret: sealed, CreatedAt: now}, now.Add(a.spec.TTL)); err != nil {
		return "", err
	}
	return kid, a.reloadKeys(ctx)
}

func (a *Authenticator) LookupKey(kid string) ([]byte, bool) {
	a.mu.Lock()
	k, ok := a.keys[kid]
	stale := a.now().Sub(a.lastReload)
	a.mu.Unlock()
	if !ok && stale > time.Second {
		// Another replica may have rotated.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := a.reloadKeys(ctx); err != nil {
			a.logger.Warn("reload signing keys failed", "error", err)
			return nil, false
		}
		a.mu.Lock()
		k, ok = a.keys[kid]
		a.mu.Unlock()
	}
	if !ok || (k.retireAt != nil && !a.now().Before(*k.retireAt)) {
		return nil, false
	}
	return k.secret, true
}

func (a *Authenticator) SigningKey(ctx context.Context) (auth.SigningKey, error) {
	a.mu.Lock()
	stale := a.now().Sub(a.lastReload) > keyReloadEvery
	a.mu.Unlock()
	if stale {
		if err := a.reloadKeys(ctx); err != nil {
			return auth.SigningKey{}, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current.ID == "" {
		return auth.SigningKey{}, errors.New("no active signing key")
	}
	return a.current, nil
}

// IssueAccess signs an access token for a session.
func (a *Authenticator) IssueAccess(ctx context.Context, username, sid string) (string, error) {
	key, err := a.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	jti, err := auth.RandomToken(16)
	if err != nil {
		return "", err
	}
	return auth.SignAccessToken(key, a.spec, username, sid, jti, a.now())
}

// Bearer extracts the token from "Authorization: Bearer <token>".
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Authenticate resolves a token to a caller.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Result, error) {
	if token == "" || len(token) > 4096 {
		return Result{}, ErrUnauthorized()
	}
	if auth.LooksLikeAPIKey(token) {
		return a.authenticateKey(ctx, token)
	}
	return a.authenticateJWT(ctx, token)
}

func (a *Authenticator) fromCache(k string) (cached, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[k]
	if !ok || a.now().Sub(c.at) >= cacheTTL {
		return cached{}, false
	}
	return c, true
}

func (a *Authenticator) toCache(k string, c cached) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= cacheMax {
		clear(a.cache)
	}
	a.cache[k] = c
}

// Forget drops a cached credential at once (logout, revoke on this replica).
func (a *Authenticator) Forget(k string) {
	a.mu.Lock()
	delete(a.cache, k)
	a.mu.Unlock()
}

func (a *Authenticator) isRevoked(ctx context.Context, id string) error {
	rev, err := a.shared.Revoked(ctx, id)
	if err != nil {
		// Fail closed: without the revocation list a revoked credential
		// could pass.
		return problem.Unavailable(time.Second, "credential check unavailable").Wrap(err)
	}
	if rev {
		return ErrUnauthorized()
	}
	return nil
}

func (a *Authenticator) authenticateKey(ctx context.Context, token string) (Result, error) {
	k, err := auth.ParseAPIKey(token)
	if err != nil {
		return Result{}, ErrUnauthorized()
	}
	if err := a.isRevoked(ctx, "key:"+k.ID); err != nil {
		return Result{}, err
	}
	now := a.now()
	c, ok := a.fromCache("key:" + k.ID)
	if !ok {
		row, err := a.store.GetAPIKey(ctx, k.ID)
		if errors.Is(err, database.ErrNotFound) {
			return Result{}, ErrUnauthorized()
		}
		if err != nil {
			return Result{}, fmt.Errorf("look up api key: %w", err)
		}
		if row.RevokedAt != nil {
			return Result{}, ErrUnauthorized()
		}
		c = cached{
			res: Result{
				Principal: apiv1.Principal{Subject: row.ID, Kind: "api_key", Role: row.Role, Teams: row.Teams, Scopes: row.Scopes},
				KeyID:     row.ID, RateLimit: row.RateLimit,
			},
			keyHash: row.Hash, at: now,
		}
		if row.ExpiresAt != nil {
			c.expires = *row.ExpiresAt
		}
		a.toCache("key:"+k.ID, c)
	}
	if !auth.HashMatches(c.keyHash, token) || (!c.expires.IsZero() && !now.Before(c.expires)) {
		return Result{}, ErrUnauthorized()
	}
	return c.res, nil
}

func (a *Authenticator) authenticateJWT(ctx context.Context, token string) (Result, error) {
	claims, err := auth.VerifyAccessToken(token, a.LookupKey, a.spec, a.now())
	if err != nil {
		return Result{}, ErrUnauthorized()
	}
	if err := a.isRevoked(ctx, "sid:"+claims.SessionID); err != nil {
		return Result{}, err
	}
	c, ok := a.fromCache("sid:" + claims.SessionID)
	if !ok {
		se, err := a.store.GetSession(ctx, claims.SessionID)
		if errors.Is(err, database.ErrNotFound) {
			return Result{}, ErrUnauthorized()
		}
		if err != nil {
			return Result{}, fmt.Errorf("look up session: %w", err)
		}
		if se.RevokedAt != nil || se.Username != claims.Subject {
			return Result{}, ErrUnauthorized()
		}
		u, err := a.store.GetUser(ctx, se.Username)
		if errors.Is(err, database.ErrNotFound) {
			return Result{}, ErrUnauthorized()
		}
		if err != nil {
			return Result{}, fmt.Errorf("look up user: %w", err)
		}
		c = cached{res: Result{
			Principal: apiv1.Principal{Subject: u.Username, Kind: "user", Role: u.Role, Teams: u.Teams},
			SessionID: se.ID,
		}, at: a.now()}
		a.toCache("sid:"+claims.SessionID, c)
	}
	return c.res, nil
}

// ScopeGrants reports whether a key's scopes cover the operation's scope:
// write implies read; admin implies read and write; ingest and agent stand
// alone.
func ScopeGrants(scopes []string, need string) bool {
	if need == "" {
		return false
	}
	for _, s := range scopes {
		switch {
		case s == need:
			return true
		case s == auth.ScopeWrite && need == auth.ScopeRead:
			return true
		case s == auth.ScopeAdmin && (need == auth.ScopeRead || need == auth.ScopeWrite):
			return true
		}
	}
	return false
}

// Spec is the access tokens' issuer, audience and lifetime.
func (a *Authenticator) Spec() auth.TokenSpec { return a.spec }
