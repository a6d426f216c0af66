package apiv1

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Handler answers one REST operation forwarded by the gateway: req carries
// the path and query parameters, the caller and the body. The result is the
// response body (a messaging.StatusReply for 201/202/204); an error is
// answered as a problem (a *problem.Error keeps its status, anything else is
// a 500 without its detail).
type Handler func(ctx context.Context, req *Request) (any, error)

// Operations is a service's REST handler table, keyed by the operationId in
// api/openapi.yaml. It is the only place a service names its REST
// operations: the subject follows from the key (Subject) and
// CheckServed compares the keys with the spec.
type Operations map[string]Handler

// IDs lists the operationIds served, sorted.
func (ops Operations) IDs() []string {
	ids := make([]string, 0, len(ops))
	for id := range ops {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Endpoints returns one NATS endpoint per operation of service, each on
// Subject(service, operationId), each decoding the gateway's envelope before
// calling the handler.
func (ops Operations) Endpoints(service string) []messaging.Endpoint {
	eps := make([]messaging.Endpoint, 0, len(ops))
	for _, id := range ops.IDs() {
		eps = append(eps, messaging.Endpoint{Name: "rest-" + id, Subject: Subject(service, id), Handler: Serve(ops[id])})
	}
	return eps
}

// Serve adapts a Handler to a NATS handler: it decodes the envelope (a
// malformed one is 400) and calls h.
func Serve(h Handler) messaging.Handler {
	return func(ctx context.Context, data []byte) (any, error) {
		req, err := DecodeRequest(data)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// DecodeRequest decodes the envelope the gateway forwards.
func DecodeRequest(data []byte) (*Request, error) {
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, problem.BadRequest("malformed request envelope: " + err.Error())
	}
	return &req, nil
}

// ErrBadCursor is what a Fetch returns for a cursor it cannot read; the
// paginator answers it with 400 naming the cursor parameter.
var ErrBadCursor = errors.New("invalid cursor")

// Fetch reads up to n items of a list that follow cursor ("" for the first
// page), in the list's order. The cursor is whatever the list's CursorOf
// produced for the last item of the previous page.
type Fetch[T any] func(ctx context.Context, req *Request, cursor string, n int) ([]T, error)

// Paginate is the list contract (api/openapi.yaml, "Lists"), in one place:
// it reads ?limit= (default 50, at most 500) and ?cursor=, asks fetch for one
// item more than the page so it knows whether another page follows, and
// answers {"items": [...], "next_cursor": cursorOf(last item) or null}.
// Items is never null.
func Paginate[T any](ctx context.Context, req *Request, fetch Fetch[T], cursorOf func(T) string) (List[T], error) {
	limit, err := req.Limit()
	if err != nil {
		return List[T]{}, err
	}
	items, err := fetch(ctx, req, req.Query.Get("cursor"), limit+1)
	if errors.Is(err, ErrBadCursor) {
		return List[T]{}, problem.BadRequest("invalid cursor", problem.FieldError{Path: "cursor", Message: "use next_cursor from a previous page"})
	}
	if err != nil {
		return List[T]{}, err
	}
	out := List[T]{Items: items}
	if len(items) > limit {
		out.Items = items[:limit]
		next := cursorOf(items[limit-1])
		out.NextCursor = &next
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out, nil
}

// ListOf makes the Handler of a list operation from its Fetch.
func ListOf[T any](fetch Fetch[T], cursorOf func(T) string) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		return Paginate(ctx, req, fetch, cursorOf)
	}
}

// After is a Fetch body for lists held in memory: the up to n items of all
// (in list order) that follow the item whose cursor is cursor. A cursor
// naming no item is ErrBadCursor.
func After[T any](all []T, cursor string, n int, cursorOf func(T) string) ([]T, error) {
	start := 0
	if cursor != "" {
		i := slices.IndexFunc(all, func(t T) bool { return cursorOf(t) == cursor })
		if i < 0 {
			return nil, ErrBadCursor
		}
		start = i + 1
	}
	return all[start:min(start+n, len(all))], nil
}
