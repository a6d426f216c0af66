package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The NATS client and go-redis keep pool goroutines that end shortly
		// after Close.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go.(*Conn).flusher"),
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
	)
}

// adminPassword is the bootstrap password in tests.
const adminPassword = "test-admin-password-1"

// testEnv is a real platform-api on embedded NATS and SQLite (or the
// given database/redis), listening on a free port.
type testEnv struct {
	t    testing.TB
	app  *app.App
	gw   *Gateway
	base string
	cfg  *config.Server
}

func newEnv(t testing.TB, mods ...func(*config.Server)) *testEnv {
	t.Helper()
	return startEnv(t, New, mods...)
}

// startEnv is newEnv with the gateway that build makes (New, or newGateway
// with a test spec).
func startEnv(t testing.TB, build func(service.Settings) (*Gateway, error), mods ...func(*config.Server)) *testEnv {
	t.Helper()
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = []string{config.ServicePlatformAPI}
	cfg.API.Addr = "127.0.0.1:0"
	cfg.Auth.BootstrapAdminPassword = adminPassword
	cfg.Shutdown.Timeout = 5 * time.Second
	for _, m := range mods {
		m(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Start(context.Background(), &cfg, logger, []service.Registration{{
		Name: config.ServicePlatformAPI, New: func(s service.Settings) (service.Service, error) { return build(s) },
	}})
	if err != nil {
		t.Fatalf("start platform-api: %v", err)
	}
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		if err := a.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	gw := a.Service(config.ServicePlatformAPI).(*Gateway)
	return &testEnv{t: t, app: a, gw: gw, base: "http://" + gw.Addr(), cfg: &cfg}
}

// resp is a finished HTTP exchange.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request with an optional bearer token and JSON body.
func (e *testEnv) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// must checks the status.
func (e *testEnv) must(want int, r resp) resp {
	e.t.Helper()
	if r.Status != want {
		e.t.Fatalf("status %d, want %d: %s", r.Status, want, r.Body)
	}
	return r
}

// login returns an access and a refresh token.
func (e *testEnv) login(username, password string) (string, string) {
	e.t.Helper()
	var tok apiv1.Tokens
	e.must(200, e.do("POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": password})).decode(e.t, &tok)
	return tok.AccessToken, tok.RefreshToken
}

func (e *testEnv) adminToken() string {
	e.t.Helper()
	a, _ := e.login("admin", adminPassword)
	return a
}

// createUser makes a user (and the teams it names) as admin and logs in.
func (e *testEnv) createUser(admin, name, role string, teams ...string) string {
	e.t.Helper()
	for _, tm := range teams {
		r := e.do("POST", "/api/v1/teams", admin, map[string]string{"name": tm})
		if r.Status != 201 && r.Status != 409 {
			e.t.Fatalf("create team %s: %d %s", tm, r.Status, r.Body)
		}
	}
	pw := "password-of-" + name
	body := map[string]any{"username": name, "password": pw, "role": role}
	if len(teams) > 0 {
		body["teams"] = teams
	}
	e.must(201, e.do("POST", "/api/v1/users", admin, body))
	tok, _ := e.login(name, pw)
	return tok
}

// createKey makes an API key as admin and returns the secret and id.
func (e *testEnv) createKey(admin string, body map[string]any) (string, string) {
	e.t.Helper()
	var k apiv1.APIKey
	e.must(201, e.do("POST", "/api/v1/apikeys", admin, body)).decode(e.t, &k)
	return k.Key, k.ID
}
