package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Route is one /api/v1 operation answered by a service over NATS: the
// gateway wraps the HTTP request in an apiv1.Request and sends it to Subject.
// Routes come from api/openapi.yaml (buildRoutes); nobody writes one by
// hand.
type Route struct {
	Method  string // GET, POST, PUT, PATCH, DELETE
	Pattern string // net/http pattern path, e.g. /api/v1/streams/{stream}/cardinality
	Subject string // apiv1.Subject(x-phoenix-service, operationId)
}

// forwardedRoute is the route of an operation another service answers.
func forwardedRoute(op apiv1.Operation) Route {
	return Route{Method: op.Method, Pattern: op.Path, Subject: op.Subject()}
}

// paramNames extracts {name} segments from a pattern.
func paramNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// forward returns the handler for a route.
func (g *Gateway) forward(rt Route) http.HandlerFunc {
	names := paramNames(rt.Pattern)
	return func(w http.ResponseWriter, r *http.Request) {
		req := apiv1.Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Principal: principalFrom(r.Context()), RequestID: httpx.RequestID(r.Context()),
		}
		if len(names) > 0 {
			req.Params = make(map[string]string, len(names))
			for _, n := range names {
				req.Params[n] = r.PathValue(n)
			}
		}
		if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if asMaxBytes(err, &mbe) {
					httpx.WriteError(w, r, problem.New(http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit))
					return
				}
				httpx.WriteError(w, r, problem.BadRequest("read body: "+err.Error()))
				return
			}
			if len(body) > 0 {
				if !json.Valid(body) {
					httpx.WriteError(w, r, problem.BadRequest("malformed JSON body"))
					return
				}
				req.Body = body
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.s.Config.API.ServiceTimeout)
		defer cancel()
		status, raw, err := g.s.Bus.RequestRaw(ctx, rt.Subject, req)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		if status == http.StatusNoContent || len(raw) == 0 {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(raw)
	}
}
