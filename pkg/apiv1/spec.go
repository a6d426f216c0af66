package apiv1

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/api"
)

// Gateway is the x-phoenix-service of the operations the gateway
// (platform-api) answers itself instead of forwarding them over NATS.
const Gateway = "platform-api"

// Operation is what api/openapi.yaml says about one operation: where it is
// (Method, Path), who answers it (Service, OperationID, hence Subject) and
// who may call it (Role, Scope; the gateway checks their values).
type Operation struct {
	Method      string // GET, POST, PUT, PATCH, DELETE
	Path        string // as the spec writes it, e.g. /api/v1/agents/{id}
	OperationID string
	Service     string // x-phoenix-service
	Role        string // x-phoenix-role
	Scope       string // x-phoenix-scope, "" when API keys may not call it
}

// Key is "METHOD path", the form the gateway indexes policies by.
func (o Operation) Key() string { return o.Method + " " + o.Path }

// Subject is the NATS subject the operation is answered on.
func (o Operation) Subject() string { return Subject(o.Service, o.OperationID) }

// Forwarded reports whether the gateway forwards the operation to a service.
func (o Operation) Forwarded() bool { return o.Service != Gateway }

// ParseSpec reads every operation of an OpenAPI document, sorted by path and
// method. Each must carry an operationId and an x-phoenix-service that are
// valid subject tokens, and operationIds must be unique: a missing or
// misspelt one is an error naming the operation, never a route that goes
// nowhere. Every problem is reported at once.
func ParseSpec(doc []byte) ([]Operation, error) {
	var spec struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(doc, &spec); err != nil {
		return nil, fmt.Errorf("parse openapi: %w", err)
	}
	var ops []Operation
	var errs []string
	byID := map[string]string{}
	for path, item := range spec.Paths {
		for method, node := range item {
			m := strings.ToUpper(method)
			switch m {
			case "GET", "POST", "PUT", "PATCH", "DELETE":
			default:
				continue // parameters, summary, ...
			}
			var op struct {
				OperationID string `yaml:"operationId"`
				Service     string `yaml:"x-phoenix-service"`
				Role        string `yaml:"x-phoenix-role"`
				Scope       string `yaml:"x-phoenix-scope"`
			}
			if err := node.Decode(&op); err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", m, path, err))
				continue
			}
			if !validToken(op.OperationID) {
				errs = append(errs, fmt.Sprintf("%s %s: operationId %q is not letters, digits, '-' or '_'", m, path, op.OperationID))
				continue
			}
			if !validToken(op.Service) {
				errs = append(errs, fmt.Sprintf("%s %s: x-phoenix-service %q is not a service name", m, path, op.Service))
				continue
			}
			key := m + " " + path
			if prev, ok := byID[op.OperationID]; ok {
				errs = append(errs, fmt.Sprintf("%s: operationId %s is also %s", key, op.OperationID, prev))
				continue
			}
			byID[op.OperationID] = key
			ops = append(ops, Operation{Method: m, Path: path, OperationID: op.OperationID, Service: op.Service, Role: op.Role, Scope: op.Scope})
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("openapi: %s", strings.Join(errs, "; "))
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return ops, nil
}

// SpecOperations parses the embedded api/openapi.yaml.
func SpecOperations() ([]Operation, error) { return ParseSpec(api.OpenAPI) }

// CheckServed compares what service serves (operationIds) with the
// operations doc marks for it, both ways: a served operationId missing from
// the spec (or marked for another service) and a spec operation nobody
// serves are both errors. Each service's tests call it with its handler
// table, so the spec and the code cannot drift apart.
func CheckServed(doc []byte, service string, served []string) error {
	ops, err := ParseSpec(doc)
	if err != nil {
		return err
	}
	marked := map[string]Operation{}
	all := map[string]Operation{}
	for _, o := range ops {
		all[o.OperationID] = o
		if o.Service == service {
			marked[o.OperationID] = o
		}
	}
	var errs []error
	seen := map[string]bool{}
	for _, id := range served {
		seen[id] = true
		o, ok := all[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s serves operation %s, which api/openapi.yaml does not have", service, id))
		case o.Service != service:
			errs = append(errs, fmt.Errorf("%s serves operation %s, which api/openapi.yaml gives to %s", service, id, o.Service))
		}
	}
	for id, o := range marked {
		if !seen[id] {
			errs = append(errs, fmt.Errorf("%s does not serve operation %s (%s), which api/openapi.yaml gives it", service, id, o.Key()))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}
