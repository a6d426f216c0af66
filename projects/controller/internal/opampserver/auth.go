package opampserver

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Requester is the part of the bus the authenticator needs.
type Requester interface {
	Request(ctx context.Context, subject string, req, resp any) error
}

// cacheTTL is how long an answer is reused: the contract allows at most one
// second so revoked keys stop working within a second.
const cacheTTL = time.Second

// maxCached bounds the cache; when full it is emptied (answers are cheap).
const maxCached = 4096

// NATSAuthenticator asks platform-api (apiv1.SubjectAuthenticate, scope
// "agent") who a token belongs to, caching positive answers for a second.
type NATSAuthenticator struct {
	bus   Requester
	now   func() time.Time
	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	p   apiv1.Principal
	exp time.Time
}

// NewNATSAuthenticator returns an authenticator over bus.
func NewNATSAuthenticator(bus Requester) *NATSAuthenticator {
	return &NATSAuthenticator{bus: bus, now: time.Now, cache: map[[32]byte]cached{}}
}

// Authenticate resolves token; errors are the service's problem (401) or
// 503 when platform-api does not answer.
func (a *NATSAuthenticator) Authenticate(ctx context.Context, token string) (apiv1.Principal, error) {
	key := sha256.Sum256([]byte(token)) // the cache never holds raw tokens
	now := a.now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Before(c.exp) {
		a.mu.Unlock()
		return c.p, nil
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var p apiv1.Principal
	if err := a.bus.Request(ctx, apiv1.SubjectAuthenticate, apiv1.AuthenticateRequest{Token: token, Scope: "agent"}, &p); err != nil {
		return apiv1.Principal{}, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
	a.cache[key] = cached{p: p, exp: now.Add(cacheTTL)}
	a.mu.Unlock()
	return p, nil
}
