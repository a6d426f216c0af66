// Package integration runs Phoenix the way users do: services in one
// process on embedded SQLite and NATS, or on PostgreSQL and a NATS server,
// and the built binary with its flags and signals.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/cmd/phoenix/services"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// adminPassword is the bootstrap admin's password in these tests.
const adminPassword = "integration-test-password-1"

var phoenixBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "phoenix-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	phoenixBin = filepath.Join(dir, "phoenix")
	build := exec.Command("go", "build", "-o", phoenixBin, "../../cmd/phoenix")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build phoenix:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is an all-in-one config on free ports and a temp data dir.
func testConfig(t *testing.T) *config.Server {
	t.Helper()
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = app.Names(services.All())
	cfg.API.Addr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPGRPCAddr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPHTTPAddr = testutil.FreeAddr(t)
	setExtraPorts(t, &cfg)
	return &cfg
}

func startApp(t *testing.T, cfg *config.Server) *app.App {
	t.Helper()
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", adminPassword)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Start(context.Background(), cfg, logger, services.All())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

// token logs in as the bootstrap admin; empty when the API has no login.
func token(t *testing.T, base string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": adminPassword})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	return out.AccessToken
}

// get performs an authenticated GET and returns the status and body.
func get(t *testing.T, url, tok string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type statusBody struct {
	Services []struct {
		Name     string `json:"name"`
		Version  string `json:"version"`
		Instance string `json:"instance"`
		Health   string `json:"health"`
	} `json:"services"`
}

func health(t *testing.T, base, tok, name string) string {
	t.Helper()
	code, b := get(t, base+"/api/v1/status", tok)
	if code != http.StatusOK {
		return fmt.Sprintf("status endpoint answered %d", code)
	}
	var st statusBody
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status body %s: %v", b, err)
	}
	for _, s := range st.Services {
		if s.Name == name {
			return s.Health
		}
	}
	return "absent"
}
