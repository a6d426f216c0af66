package apiv1

import (
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/config"
)

func TestSubject(t *testing.T) {
	for _, c := range []struct{ service, op, want string }{
		{"controller", "getAgent", "phoenix.controller.rest.getAgent"},
		{"analytics", "listStreams", "phoenix.analytics.rest.listStreams"},
		{"anomaly-detector", "listAlerts", "phoenix.anomaly-detector.rest.listAlerts"},
	} {
		if got := Subject(c.service, c.op); got != c.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", c.service, c.op, got, c.want)
		}
	}
}

// op is one operation of a test document.
func op(path, method, id, service string) string {
	s := "  " + path + ":\n    " + method + ":\n"
	if id != "" {
		s += "      operationId: " + id + "\n"
	}
	if service != "" {
		s += "      x-phoenix-service: " + service + "\n"
	}
	return s + "      x-phoenix-role: viewer\n"
}

func TestParseSpecErrors(t *testing.T) {
	cases := []struct {
		name, paths, want string
	}{
		{"no operationId", op("/a", "get", "", "svc"), `GET /a: operationId ""`},
		{"operationId with a dot", op("/a", "get", "get.a", "svc"), `operationId "get.a"`},
		{"operationId with a wildcard", op("/a", "get", "get*", "svc"), `operationId "get*"`},
		{"no service", op("/a", "get", "getA", ""), `GET /a: x-phoenix-service ""`},
		{"service with a space", op("/a", "get", "getA", "my svc"), `x-phoenix-service "my svc"`},
		{"duplicate operationId", op("/a", "get", "getA", "svc") + op("/b", "get", "getA", "svc"), "operationId getA is also"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec([]byte("paths:\n" + c.paths))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseSpec([]byte("paths: [")); err == nil {
		t.Error("malformed YAML accepted")
	}
}

func TestParseSpec(t *testing.T) {
	doc := "paths:\n" + op("/b/{id}", "delete", "deleteB", "svc") + op("/a", "post", "createA", "platform-api") +
		"  /a/{id}:\n    parameters: []\n" + op("/a/{id}", "get", "getA", "svc")[len("  /a/{id}:\n"):]
	ops, err := ParseSpec([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Operation{
		{Method: "POST", Path: "/a", OperationID: "createA", Service: Gateway, Role: "viewer"},
		{Method: "GET", Path: "/a/{id}", OperationID: "getA", Service: "svc", Role: "viewer"},
		{Method: "DELETE", Path: "/b/{id}", OperationID: "deleteB", Service: "svc", Role: "viewer"},
	}
	if len(ops) != len(want) {
		t.Fatalf("got %+v", ops)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("op %d: got %+v, want %+v", i, ops[i], want[i])
		}
	}
	if ops[0].Forwarded() || !ops[1].Forwarded() || ops[1].Subject() != "phoenix.svc.rest.getA" || ops[2].Key() != "DELETE /b/{id}" {
		t.Errorf("derived fields wrong: %+v", ops)
	}
}

// TestSpecNamesKnownServices: every operation of api/openapi.yaml is
// answered by a service Phoenix runs, so no route forwards to a subject
// nobody can serve. (Each service's own test checks that it serves what
// the spec gives it, with CheckServed.)
func TestSpecNamesKnownServices(t *testing.T) {
	known := map[string]bool{
		config.ServicePlatformAPI: true, config.ServiceController: true, config.ServiceGenerator: true,
		config.ServiceAnalytics: true, config.ServiceLoadsim: true, config.ServiceAnomalyDetector: true,
	}
	ops, err := SpecOperations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) < 50 {
		t.Fatalf("only %d operations in api/openapi.yaml", len(ops))
	}
	for _, o := range ops {
		if !known[o.Service] {
			t.Errorf("%s (%s): x-phoenix-service %q is not a Phoenix service", o.Key(), o.OperationID, o.Service)
		}
	}
}

func TestCheckServed(t *testing.T) {
	doc := []byte("paths:\n" + op("/a", "get", "getA", "svc") + op("/c", "post", "createA", "svc") + op("/b", "get", "getB", "other"))
	cases := []struct {
		name   string
		served []string
		want   []string // substrings of the error; none: no error
	}{
		{"exactly the spec", []string{"getA", "createA"}, nil},
		{"operation not served", []string{"getA"}, []string{"svc does not serve operation createA (POST /c)"}},
		{"handler not in spec", []string{"getA", "createA", "deleteA"}, []string{"svc serves operation deleteA, which api/openapi.yaml does not have"}},
		{"another service's operation", []string{"getA", "createA", "getB"}, []string{"svc serves operation getB, which api/openapi.yaml gives to other"}},
		{"both ways at once", []string{"getB"}, []string{"does not serve operation getA", "does not serve operation createA", "gives to other"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckServed(doc, "svc", c.served)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if err := CheckServed([]byte("paths:\n"+op("/a", "get", "", "svc")), "svc", nil); err == nil {
		t.Error("a broken spec passed")
	}
	// The embedded spec parses, so each service's check means something.
	if _, err := ParseSpec(api.OpenAPI); err != nil {
		t.Fatal(err)
	}
}
