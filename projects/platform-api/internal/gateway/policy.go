package gateway

import (
	"fmt"
	"sort"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Roles in increasing power; "public" marks the routes anyone may call.
const (
	rolePublic   = "public"
	roleViewer   = "viewer"
	roleOperator = "operator"
	roleAdmin    = "admin"
)

var roleRank = map[string]int{roleViewer: 1, roleOperator: 2, roleAdmin: 3}

// policy is what api/openapi.yaml says about one operation.
type policy struct {
	Method      string
	Path        string
	Role        string // public, viewer, operator, admin
	Scope       string // API key scope; "" means API keys may not call it
	OperationID string
	Service     string // x-phoenix-service: apiv1.Gateway or the service it is forwarded to
}

// specOps parses the OpenAPI document (apiv1.ParseSpec) into policies keyed
// by "METHOD path". Every operation must carry a valid x-phoenix-role: a
// missing or misspelt one is a start-up error, never a silently open route.
func specOps(doc []byte) (map[string]policy, error) {
	ops, err := apiv1.ParseSpec(doc)
	if err != nil {
		return nil, err
	}
	out := map[string]policy{}
	var errs []string
	for _, op := range ops {
		m, path := op.Method, op.Path
		if _, ok := roleRank[op.Role]; !ok && op.Role != rolePublic {
			errs = append(errs, fmt.Sprintf("%s %s: x-phoenix-role %q is not public, viewer, operator or admin", m, path, op.Role))
			continue
		}
		switch op.Scope {
		case "", "read", "write", "ingest", "agent", "admin":
		default:
			errs = append(errs, fmt.Sprintf("%s %s: x-phoenix-scope %q is not read, write, ingest, agent or admin", m, path, op.Scope))
			continue
		}
		out[op.Key()] = policy{Method: m, Path: path, Role: op.Role, Scope: op.Scope, OperationID: op.OperationID, Service: op.Service}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("openapi: %s", strings.Join(errs, "; "))
	}
	return out, nil
}
