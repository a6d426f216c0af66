package gateway

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
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
	Method string
	Path   string
	Role   string // public, viewer, operator, admin
	Scope  string // API key scope; "" means API keys may not call it
}

// specOps parses the OpenAPI document into policies keyed by "METHOD path".
// Every operation must carry a valid x-phoenix-role: a missing or misspelt
// one is a start-up error, never a silently open route.
func specOps(doc []byte) (map[string]policy, error) {
	var spec struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(doc, &spec); err != nil {
		return nil, fmt.Errorf("parse openapi: %w", err)
	}
	out := map[string]policy{}
	var errs []string
	for path, item := range spec.Paths {
		for method, node := range item {
			m := strings.ToUpper(method)
			switch m {
			case "GET", "POST", "PUT", "PATCH", "DELETE":
			default:
				continue // parameters, summary, ...
			}
			var op struct {
				Role  string `yaml:"x-phoenix-role"`
				Scope string `yaml:"x-phoenix-scope"`
			}
			if err := node.Decode(&op); err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", m, path, err))
				continue
			}
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
			out[m+" "+path] = policy{Method: m, Path: path, Role: op.Role, Scope: op.Scope}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("openapi: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// specPath turns a mux pattern into the spec's path form ({rest...} -> {rest}).
func specPath(pattern string) string { return strings.ReplaceAll(pattern, "...}", "}") }
