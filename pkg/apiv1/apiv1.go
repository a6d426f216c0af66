// Package apiv1 holds the API contract types shared by the gateway and the
// services behind it: the envelope of a REST call forwarded over NATS, the
// caller's identity, and the list shapes of api/openapi.yaml.
package apiv1

import (
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Principal is the authenticated caller, as the gateway established it.
// Services use it for object-level checks (team ownership).
type Principal struct {
	Subject string   `json:"subject"`          // user name or API key id
	Kind    string   `json:"kind"`             // "user", "api_key" or "anonymous" (dev mode)
	Role    string   `json:"role"`             // viewer, operator or admin
	Teams   []string `json:"teams,omitempty"`  // teams the caller belongs to
	Scopes  []string `json:"scopes,omitempty"` // API key scopes
}

// Admin reports whether the caller sees and changes everything.
func (p Principal) Admin() bool { return p.Role == "admin" }

// InTeam reports whether the caller may see objects owned by team.
func (p Principal) InTeam(team string) bool {
	if p.Admin() {
		return true
	}
	for _, t := range p.Teams {
		if t == team {
			return true
		}
	}
	return false
}

// Request is a REST call forwarded by the gateway to a service.
type Request struct {
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Params    map[string]string `json:"params,omitempty"` // path parameters by name
	Query     url.Values        `json:"query,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	Principal Principal         `json:"principal"`
	RequestID string            `json:"request_id,omitempty"`
}

// List is the body of every list endpoint.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// Page limits: ?limit= defaults to 50 and may not exceed 500.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Limit parses ?limit=, answering 400 for a bad value.
func (r *Request) Limit() (int, error) {
	s := r.Query.Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, problem.BadRequest("invalid limit", problem.FieldError{Path: "limit", Message: "must be an integer from 1 to 500"})
	}
	return n, nil
}

// DecodeBody decodes the JSON body strictly (unknown fields are 400).
func (r *Request) DecodeBody(v any) error {
	if len(r.Body) == 0 {
		return problem.BadRequest("request body is required")
	}
	dec := json.NewDecoder(bytesReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.BadRequest("malformed JSON body: " + err.Error())
	}
	return nil
}

// MayWrite repeats the gateway's x-phoenix-role check for operations that
// change state, so a caller on the bus that skips the gateway cannot write
// as a viewer. what names the objects in the refusal ("experiments").
func (p Principal) MayWrite(what string) error {
	if p.Role != "operator" && !p.Admin() {
		return problem.Forbidden("changing %s needs the operator role", what)
	}
	return nil
}

// OwnerTeam picks the team a new object belongs to: requested (?team=; the
// caller must be in it), else the caller's first team; an admin in no team
// creates under DefaultTeam. what names the object in the refusal ("an
// experiment").
func (p Principal) OwnerTeam(requested, what string) (string, error) {
	if requested != "" {
		if !p.InTeam(requested) {
			return "", problem.Forbidden("you are not a member of team %q", requested)
		}
		return requested, nil
	}
	if len(p.Teams) > 0 {
		return p.Teams[0], nil
	}
	if p.Admin() {
		return DefaultTeam, nil
	}
	return "", problem.Forbidden("you belong to no team, so you cannot own %s", what)
}
