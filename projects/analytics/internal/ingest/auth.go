package ingest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Requester is the part of messaging.Bus the authenticator needs.
type Requester interface {
	Request(ctx context.Context, subject string, req, resp any) error
}

// BusAuth resolves ingest tokens with platform-api over NATS
// (apiv1.SubjectAuthenticate, scope "ingest"), caching answers, good and
// bad, for at most TTL (≤ 1 s, so revocations apply within a second).
type BusAuth struct {
	bus Requester
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]authEntry
}

type authEntry struct {
	p   apiv1.Principal
	err error
	at  time.Time
}

// maxAuthCache bounds the cache; when full it is emptied.
const maxAuthCache = 10_000

// NewBusAuth builds the authenticator; ttl is capped at one second.
func NewBusAuth(bus Requester, ttl time.Duration) *BusAuth {
	if ttl <= 0 || ttl > time.Second {
		ttl = time.Second
	}
	return &BusAuth{bus: bus, ttl: ttl, now: time.Now, cache: map[string]authEntry{}}
}

// Authenticate implements Authenticator.
func (a *BusAuth) Authenticate(ctx context.Context, token string) (apiv1.Principal, error) {
	now := a.now()
	a.mu.Lock()
	e, ok := a.cache[token]
	a.mu.Unlock()
	if ok && now.Sub(e.at) < a.ttl {
		return e.p, e.err
	}
	var p apiv1.Principal
	err := a.bus.Request(ctx, apiv1.SubjectAuthenticate, apiv1.AuthenticateRequest{Token: token, Scope: "ingest"}, &p)
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && (pe.Status == http.StatusUnauthorized || pe.Status == http.StatusForbidden) {
			err = refuse(http.StatusUnauthorized, "unauthenticated", "invalid credentials")
		} else {
			// The auth service is unreachable: a retryable refusal, never cached.
			return p, &ingestError{status: http.StatusServiceUnavailable, reason: "auth_unavailable", retry: time.Second,
				msg: "authentication service unavailable; retry later"}
		}
	}
	a.mu.Lock()
	if len(a.cache) >= maxAuthCache {
		clear(a.cache)
	}
	a.cache[token] = authEntry{p: p, err: err, at: now}
	a.mu.Unlock()
	return p, err
}
