// Package security holds the end-to-end acceptance tests of issue 14: each
// attack of the report, replayed against the built `phoenix server` (not
// --dev, so ingest and OpAMP need keys) with two teams. The unit tests of
// each defence live with its code; these check that the running server
// wires them.
package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

const adminPassword = "security-e2e-password-1"

// teamMaxStreams is the team stream quota the shared server runs with, so a
// flood reaches it in a few requests.
const teamMaxStreams = 5

// teamMaxDatapointsPerSecond is the team datapoints/s quota the shared
// server runs with (burst: 10 s of it), so a flood reaches it in a few
// requests while the other tests' few points stay far below it.
const teamMaxDatapointsPerSecond = 200

var (
	buildDir string
	binPath  string
	buildErr error
	build    sync.Once

	shared     *phoenix
	sharedErr  error
	sharedOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// phoenixBinary builds cmd/phoenix once per test run.
func phoenixBinary(t *testing.T) string {
	t.Helper()
	build.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "phoenix-security-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "phoenix")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/phoenix")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build phoenix: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// phoenix is a running `phoenix server` and the addresses it listens on.
type phoenix struct {
	cmd      *exec.Cmd
	exited   chan error
	logs     *lockedBuffer
	api      string // http://host:port
	otlpHTTP string // host:port
	otlpGRPC string
	opamp    string
	admin    string // an admin access token
}

// startPhoenix runs the binary with every service and waits until the
// admin can log in.
func startPhoenix(t *testing.T, extraEnv ...string) (*phoenix, error) {
	bin := phoenixBinary(t)
	p := &phoenix{
		logs: &lockedBuffer{}, exited: make(chan error, 1),
		otlpHTTP: testutil.FreeAddr(t), otlpGRPC: testutil.FreeAddr(t), opamp: testutil.FreeAddr(t),
	}
	apiAddr := testutil.FreeAddr(t)
	p.api = "http://" + apiAddr
	dataDir, err := os.MkdirTemp("", "phoenix-security-data-")
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "server")
	p.cmd.Env = append(os.Environ(),
		"PHOENIX_DATA_DIR="+dataDir,
		"PHOENIX_BOOTSTRAP_ADMIN_PASSWORD="+adminPassword,
		"PHOENIX_API_ADDR="+apiAddr,
		"PHOENIX_ANALYTICS_OTLP_HTTP_ADDR="+p.otlpHTTP,
		"PHOENIX_ANALYTICS_OTLP_GRPC_ADDR="+p.otlpGRPC,
		"PHOENIX_CONTROLLER_OPAMP_ADDR="+p.opamp,
		"PHOENIX_ANALYTICS_TEAM_MAX_STREAMS="+strconv.Itoa(teamMaxStreams),
		"PHOENIX_ANALYTICS_TEAM_MAX_DATAPOINTS_PER_SECOND="+strconv.Itoa(teamMaxDatapointsPerSecond),
	)
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.exited <- p.cmd.Wait()
		os.RemoveAll(dataDir)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.admin = login(p.api, "admin", adminPassword); p.admin != "" {
			return p, nil
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return nil, fmt.Errorf("phoenix exited before it answered: %v\n%s", err, tail(p.logs.String(), 40))
		case <-time.After(250 * time.Millisecond):
		}
	}
	p.stop()
	return nil, fmt.Errorf("admin login never succeeded\n%s", tail(p.logs.String(), 40))
}

// sharedPhoenix is one server for the tests that do not stop it; each test
// makes its own teams, so they do not share quotas.
func sharedPhoenix(t *testing.T) *phoenix {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the phoenix binary")
	}
	sharedOnce.Do(func() { shared, sharedErr = startPhoenix(t) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", tail(shared.logs.String(), 40))
		}
	})
	return shared
}

func (p *phoenix) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// rssBytes is the server process's resident set size.
func (p *phoenix) rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read server memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// teamKey creates a team and an API key acting for it with the given
// role and scopes, and returns the key's secret.
func (p *phoenix) teamKey(t *testing.T, team, role string, scopes ...string) string {
	t.Helper()
	status, body := p.call(t, http.MethodPost, "/api/v1/teams", p.admin, map[string]any{"name": team})
	if status != http.StatusCreated && status != http.StatusOK && status != http.StatusConflict {
		t.Fatalf("create team %s: %d %s", team, status, body)
	}
	status, body = p.call(t, http.MethodPost, "/api/v1/apikeys", p.admin,
		map[string]any{"name": team + "-" + strings.Join(scopes, "-"), "role": role, "scopes": scopes, "teams": []string{team}})
	var k struct {
		Key string `json:"key"`
	}
	if status != http.StatusCreated && status != http.StatusOK || json.Unmarshal(body, &k) != nil || k.Key == "" {
		t.Fatalf("create key for %s: %d %s", team, status, body)
	}
	return k.Key
}

// call sends a JSON request to the REST API.
func (p *phoenix) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.api+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	// The timeout guards against a hang; no test asserts on time.
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func login(base, user, password string) string {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return ""
	}
	return out.AccessToken
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
