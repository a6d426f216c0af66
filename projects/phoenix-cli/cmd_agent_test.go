package phoenixcli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fleetAPI serves recorded API answers and captures pushes.
func fleetAPI(t *testing.T) (*httptest.Server, *[]map[string]any) {
	t.Helper()
	var pushes []map[string]any
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "agent", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/agents":
			if r.URL.Query().Get("limit") != "" && r.URL.Query().Get("limit") != "2" {
				t.Errorf("limit = %q", r.URL.Query().Get("limit"))
			}
			_, _ = w.Write(read("list.json"))
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/history"):
			_, _ = w.Write(read("history.json"))
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/config"):
			var body map[string]any
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &body)
			pushes = append(pushes, body)
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"dep-1","config_hash":"abc","status":"pending","delivered":true}`))
		case r.Method == "GET" && r.URL.Path == "/api/v1/agents/missing":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"title":"Not Found","detail":"agent missing not found"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &pushes
}

func TestAgentCommands(t *testing.T) {
	srv, pushes := fleetAPI(t)
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	out, _, err := runCLI(t, "agent", "list", api, "--limit", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"01a21fa5-627c-7a1e-8501-cdf355dcd246", "healthy", "74c0e2301b9e ", "applied", "unknown", "more: --cursor 01a21fa5-0000-7000-8000-000000000002"} {
		if !strings.Contains(out, want) {
			t.Errorf("list table lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "agent", "list", api, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 2 || list.Items[1]["healthy"] != nil {
		t.Errorf("list json: %v %s", err, out)
	}

	out, _, err = runCLI(t, "agent", "history", "01a21fa5-627c-7a1e-8501-cdf355dcd246", api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"failed", "unknown type", "pl-pay v3", "phoenix-dev", "alice"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, "agent", "history", "x", api, "-o", "yaml")
	if err != nil || !strings.Contains(out, "created_by: alice") {
		t.Errorf("history yaml: %v\n%s", err, out)
	}

	if _, _, err := runCLI(t, "agent", "get", "missing", api); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("get missing: %v", err)
	}

	if _, _, err := runCLI(t, "agent", "push", "a1", api, "--pipeline", "pl-pay", "--version", "3", "--reason", "roll out"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "agent", "push", "a1", api, "--pipeline", "p", "--rollback-to", "d"); err == nil {
		t.Error("two sources accepted")
	}
	if len(*pushes) != 1 || (*pushes)[0]["pipeline_id"] != "pl-pay" || (*pushes)[0]["version"] != float64(3) || (*pushes)[0]["reason"] != "roll out" {
		t.Errorf("pushes: %v", *pushes)
	}
}
