package authn

import (
	"context"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

type principalKey struct{}

type authKey struct{}

// WithPrincipal stores the authenticated caller in the context.
func WithPrincipal(ctx context.Context, p apiv1.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller set by authentication.
func PrincipalFrom(ctx context.Context) apiv1.Principal {
	p, _ := ctx.Value(principalKey{}).(apiv1.Principal)
	return p
}

// WithResult keeps the whole authentication result (session, key id) for the
// gateway's own handlers (logout needs the session).
func WithResult(ctx context.Context, r Result) context.Context {
	return context.WithValue(ctx, authKey{}, r)
}

// ResultFrom returns the result set by WithResult.
func ResultFrom(ctx context.Context) Result {
	r, _ := ctx.Value(authKey{}).(Result)
	return r
}
