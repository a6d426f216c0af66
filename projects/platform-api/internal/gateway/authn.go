package gateway

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
	"github.com/phoenix-platform/phoenix/pkg/auth"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/secrets"
)

// cacheTTL bounds how long a resolved credential is reused without asking
// the database: revocations, role and team changes take effect within it.
const cacheTTL = time.Second

// cacheMax bounds the credential cache; when full it is emptied.
const cacheMax = 10_000

// keyReloadEvery paces re-reading the signing keys (rotation by another
// replica); an unknown kid triggers a reload at most once per second.
const keyReloadEvery = 30 * time.Second

// authResult is an authenticated caller.
type authResult struct {
	Principal apiv1.Principal
	SessionID string // JWT callers
	KeyID     string // API key callers
	RateLimit int    // per-minute override for API keys (0: configured default)
}

type cached struct {
	res     authResult
	keyHash string // API keys: the stored hash, compared on every use
	expires time.Time
	at      time.Time
}

// errUnauthorized is the one answer for every bad credential: saying which
// check failed would help an attacker.
func errUnauthorized() *problem.Error {
	return problem.Unauthorized("missing, invalid, expired or revoked credentials")
}

type authenticator struct {
	store  *authStore
	shared sharedState
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

func newAuthenticator(ctx context.Context, st *authStore, sh sharedState, sealer *secrets.Sealer, spec auth.TokenSpec, logger *slog.Logger) (*authenticator, error) {
	a := &authenticator{store: st, shared: sh, sealer: sealer, spec: spec, logger: logger, now: time.Now, cache: map[string]cached{}}
	if err := a.reloadKeys(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	missing := a.current.ID == ""
	a.mu.Unlock()
	if missing {
		if _, err := a.rotate(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// reloadKeys reads the signing keys; the newest unretired one signs.
func (a *authenticator) reloadKeys(ctx context.Context) error {
	rows, err := a.store.signingKeys(ctx)
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

// rotate makes a new signing key; older keys keep verifying until every
// token they signed has expired.
func (a *authenticator) rotate(ctx context.Context) (string, error) {
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
	if err := a.store.addSigningKey(ctx, signingKeyRow{KID: kid, Secret: sealed, CreatedAt: now}, now.Add(a.spec.TTL)); err != nil {
		return "", err
	}
	return kid, a.reloadKeys(ctx)
}

func (a *authenticator) lookupKey(kid string) ([]byte, bool) {
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

func (a *authenticator) signingKey(ctx context.Context) (auth.SigningKey, error) {
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

// issueAccess signs an access token for a session.
func (a *authenticator) issueAccess(ctx context.Context, username, sid string) (string, error) {
	key, err := a.signingKey(ctx)
	if err != nil {
		return "", err
	}
	jti, err := auth.RandomToken(16)
	if err != nil {
		return "", err
	}
	return auth.SignAccessToken(key, a.spec, username, sid, jti, a.now())
}

// bearer extracts the token from "Authorization: Bearer <token>".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate resolves a token to a caller.
func (a *authenticator) authenticate(ctx context.Context, token string) (authResult, error) {
	if token == "" || len(token) > 4096 {
		return authResult{}, errUnauthorized()
	}
	if auth.LooksLikeAPIKey(token) {
		return a.authenticateKey(ctx, token)
	}
	return a.authenticateJWT(ctx, token)
}

func (a *authenticator) fromCache(k string) (cached, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[k]
	if !ok || a.now().Sub(c.at) >= cacheTTL {
		return cached{}, false
	}
	return c, true
}

func (a *authenticator) toCache(k string, c cached) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= cacheMax {
		clear(a.cache)
	}
	a.cache[k] = c
}

// forget drops a cached credential at once (logout, revoke on this replica).
func (a *authenticator) forget(k string) {
	a.mu.Lock()
	delete(a.cache, k)
	a.mu.Unlock()
}

func (a *authenticator) isRevoked(ctx context.Context, id string) error {
	rev, err := a.shared.revoked(ctx, id)
	if err != nil {
		// Fail closed: without the revocation list a revoked credential
		// could pass.
		return problem.Unavailable(time.Second, "credential check unavailable").Wrap(err)
	}
	if rev {
		return errUnauthorized()
	}
	return nil
}

func (a *authenticator) authenticateKey(ctx context.Context, token string) (authResult, error) {
	k, err := auth.ParseAPIKey(token)
	if err != nil {
		return authResult{}, errUnauthorized()
	}
	if err := a.isRevoked(ctx, "key:"+k.ID); err != nil {
		return authResult{}, err
	}
	now := a.now()
	c, ok := a.fromCache("key:" + k.ID)
	if !ok {
		row, err := a.store.getAPIKey(ctx, k.ID)
		if errors.Is(err, database.ErrNotFound) {
			return authResult{}, errUnauthorized()
		}
		if err != nil {
			return authResult{}, fmt.Errorf("look up api key: %w", err)
		}
		if row.RevokedAt != nil {
			return authResult{}, errUnauthorized()
		}
		c = cached{
			res: authResult{
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
		return authResult{}, errUnauthorized()
	}
	return c.res, nil
}

func (a *authenticator) authenticateJWT(ctx context.Context, token string) (authResult, error) {
	claims, err := auth.VerifyAccessToken(token, a.lookupKey, a.spec, a.now())
	if err != nil {
		return authResult{}, errUnauthorized()
	}
	if err := a.isRevoked(ctx, "sid:"+claims.SessionID); err != nil {
		return authResult{}, err
	}
	c, ok := a.fromCache("sid:" + claims.SessionID)
	if !ok {
		se, err := a.store.getSession(ctx, claims.SessionID)
		if errors.Is(err, database.ErrNotFound) {
			return authResult{}, errUnauthorized()
		}
		if err != nil {
			return authResult{}, fmt.Errorf("look up session: %w", err)
		}
		if se.RevokedAt != nil || se.Username != claims.Subject {
			return authResult{}, errUnauthorized()
		}
		u, err := a.store.getUser(ctx, se.Username)
		if errors.Is(err, database.ErrNotFound) {
			return authResult{}, errUnauthorized()
		}
		if err != nil {
			return authResult{}, fmt.Errorf("look up user: %w", err)
		}
		c = cached{res: authResult{
			Principal: apiv1.Principal{Subject: u.Username, Kind: "user", Role: u.Role, Teams: u.Teams},
			SessionID: se.ID,
		}, at: a.now()}
		a.toCache("sid:"+claims.SessionID, c)
	}
	return c.res, nil
}

// scopeGrants reports whether a key's scopes cover the operation's scope:
// write implies read; admin implies read and write; ingest and agent stand
// alone.
func scopeGrants(scopes []string, need string) bool {
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

// authorize checks the role (and, for API keys, the scope) an operation needs.
func authorize(p apiv1.Principal, pol policy) error {
	if roleRank[p.Role] < roleRank[pol.Role] {
		return problem.Forbidden("this operation needs the %s role", pol.Role)
	}
	if p.Kind == "api_key" {
		if pol.Scope == "" {
			return problem.Forbidden("API keys cannot call this operation")
		}
		if !scopeGrants(p.Scopes, pol.Scope) {
			return problem.Forbidden("this operation needs an API key with the %s scope", pol.Scope)
		}
	}
	return nil
}

// grantsScope is the authenticate endpoint's scope check for any caller:
// keys need the scope; users need viewer for read, operator for write,
// ingest and agent, admin for admin.
func grantsScope(p apiv1.Principal, scope string) bool {
	if scope == "" {
		return true
	}
	if p.Kind == "api_key" {
		return scopeGrants(p.Scopes, scope)
	}
	need := roleOperator
	switch scope {
	case auth.ScopeRead:
		need = roleViewer
	case auth.ScopeAdmin:
		need = roleAdmin
	}
	return roleRank[p.Role] >= roleRank[need]
}
