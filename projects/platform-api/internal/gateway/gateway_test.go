package gateway

import (
	"strings"
	"testing"
)

func TestStatusNeedsToken(t *testing.T) {
	e := newEnv(t)
	e.must(401, e.do("GET", "/api/v1/status", "", nil))
	e.must(200, e.do("GET", "/healthz", "", nil))
	e.must(200, e.do("GET", "/readyz", "", nil))
	var st struct {
		Services []struct{ Name, Health string } `json:"services"`
	}
	e.must(200, e.do("GET", "/api/v1/status", e.adminToken(), nil)).decode(t, &st)
	found := false
	for _, s := range st.Services {
		if s.Name == "platform-api" {
			found = s.Health == "ok"
		}
	}
	if !found {
		t.Fatalf("platform-api not ok in %+v", st)
	}
	docs := e.must(200, e.do("GET", "/api/v1/docs", "", nil))
	if !strings.Contains(string(docs.Body), "/api/v1/auth/login") || strings.Contains(string(docs.Body), "https://") {
		t.Fatalf("docs page: missing operations or external references")
	}
}
