package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/auth"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/authn"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/events"
)

// principalFrom returns the caller set by guard.
func principalFrom(ctx context.Context) apiv1.Principal { return authn.PrincipalFrom(ctx) }

// authFrom returns the whole authentication result (session, key id) for
// the gateway's own handlers (logout needs the session).
func authFrom(ctx context.Context) authn.Result { return authn.ResultFrom(ctx) }

func asMaxBytes(err error, target **http.MaxBytesError) bool { return errors.As(err, target) }

// authorize checks the role (and, for API keys, the scope) an operation needs.
func authorize(p apiv1.Principal, pol policy) error {
	if roleRank[p.Role] < roleRank[pol.Role] {
		return problem.Forbidden("this operation needs the %s role", pol.Role)
	}
	if p.Kind == "api_key" {
		if pol.Scope == "" {
			return problem.Forbidden("API keys cannot call this operation")
		}
		if !authn.ScopeGrants(p.Scopes, pol.Scope) {
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
		return authn.ScopeGrants(p.Scopes, scope)
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

// serveWS hands an authenticated request to the event hub.
func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if g.hub == nil {
		httpx.WriteError(w, r, problem.Unavailable(time.Second, "events not ready"))
		return
	}
	g.hub.ServeHTTP(w, r)
}

// authorizeTopic is the object-level check on subscribing to a per-id
// topic. It is allowed when the owning service answers the caller's GET for
// that object (the same team check as the REST route); when no service
// serves such a route yet, only admins may subscribe.
func (g *Gateway) authorizeTopic(ctx context.Context, p apiv1.Principal, kind, id string) error {
	var prefix string
	switch kind {
	case "experiment":
		prefix = "/api/v1/experiments/{"
	case "stream":
		prefix = "/api/v1/streams/{"
	default:
		return events.ErrTopic
	}
	rt, ok := g.objectRoute(prefix)
	if !ok {
		if p.Admin() {
			return nil
		}
		return events.ErrTopic
	}
	names := paramNames(rt.Pattern)
	path := strings.Replace(rt.Pattern, "{"+names[0]+"}", id, 1)
	req := apiv1.Request{Method: "GET", Path: path, Params: map[string]string{names[0]: id}, Principal: p}
	cctx, cancel := context.WithTimeout(ctx, g.s.Config.API.ServiceTimeout)
	defer cancel()
	if _, _, err := g.s.Bus.RequestRaw(cctx, rt.Subject, req); err != nil {
		// As when no route exists: with the owning service not running in
		// this deployment (no responders), admins may still subscribe.
		if pe := problem.From(err); p.Admin() && pe != nil && pe.Status == http.StatusServiceUnavailable {
			return nil
		}
		return events.ErrTopic
	}
	return nil
}

// objectRoute finds the forwarded GET route that reads one object under
// prefix (the shortest pattern with exactly one path parameter).
func (g *Gateway) objectRoute(prefix string) (Route, bool) {
	var best Route
	found := false
	for _, rt := range g.routes {
		if rt.Forward == nil || rt.Method != "GET" || !strings.HasPrefix(rt.Pattern, prefix) || len(paramNames(rt.Pattern)) != 1 {
			continue
		}
		if !found || len(rt.Pattern) < len(best.Pattern) {
			best, found = *rt.Forward, true
		}
	}
	return best, found
}
