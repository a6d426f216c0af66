package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

type principalKey struct{}

type authKey struct{}

// withPrincipal stores the authenticated caller in the context.
func withPrincipal(ctx context.Context, p apiv1.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the caller set by authentication.
func principalFrom(ctx context.Context) apiv1.Principal {
	p, _ := ctx.Value(principalKey{}).(apiv1.Principal)
	return p
}

// withAuth keeps the whole authentication result (session, key id) for the
// gateway's own handlers (logout needs the session).
func withAuth(ctx context.Context, r authResult) context.Context {
	return context.WithValue(ctx, authKey{}, r)
}

func authFrom(ctx context.Context) authResult {
	r, _ := ctx.Value(authKey{}).(authResult)
	return r
}

func asMaxBytes(err error, target **http.MaxBytesError) bool { return errors.As(err, target) }
