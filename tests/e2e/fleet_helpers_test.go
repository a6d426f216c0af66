// Package e2e runs Phoenix's fleet end to end: the control plane (pkg/app
// with embedded NATS and SQLite on free ports), real agents (projects/agent)
// and real collector processes, both the stand-in built from testdata and
// the real phoenix-collector, and the built `phoenix server --dev`.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/agent"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/controller"
)

// repoRoot is the module root, from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var admin = apiv1.Principal{Subject: "alice", Kind: "user", Role: "admin"}

// controlPlane is a running pkg/app with the controller (and analytics when
// asked) on free ports.
type controlPlane struct {
	cfg *config.Server
	app *app.App
}

func newConfig(t *testing.T, services ...string) *config.Server {
	t.Helper()
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Services = services
	cfg.API.Addr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPGRPCAddr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPHTTPAddr = testutil.FreeAddr(t)
	cfg.Controller.OpAMPAddr = testutil.FreeAddr(t)
	controller.ConfigFrom(&cfg).OpAMPOpen = true
	cfg.Shutdown.Timeout = 10 * time.Second
	return &cfg
}

func start(t *testing.T, cfg *config.Server) *controlPlane {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := app.Start(context.Background(), cfg, logger, []service.Registration{
		analytics.Registration(), controller.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{cfg: cfg, app: a}
	t.Cleanup(cp.stop)
	return cp
}

func (cp *controlPlane) stop() {
	if cp.app != nil {
		_ = cp.app.Stop()
		cp.app = nil
	}
}

func (cp *controlPlane) opampURL() string {
	return "ws://" + cp.cfg.Controller.OpAMPAddr + "/v1/opamp"
}

// call sends an API request to the controller over NATS as the gateway does.
func (cp *controlPlane) call(t *testing.T, subject string, p apiv1.Principal, params map[string]string, body any) (int, []byte, error) {
	t.Helper()
	req := apiv1.Request{Principal: p, Params: params}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		req.Body = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cp.app.Settings.Bus.RequestRaw(ctx, subject, req)
}

// agentView is the part of GET /api/v1/agents/{id} the tests read.
type agentView struct {
	ID                  string            `json:"id"`
	Team                string            `json:"team"`
	Labels              map[string]string `json:"labels"`
	Connected           bool              `json:"connected"`
	Healthy             *bool             `json:"healthy"`
	HealthStatus        string            `json:"health_status"`
	LastError           string            `json:"last_error"`
	EffectiveConfig     string            `json:"effective_config"`
	EffectiveConfigHash string            `json:"effective_config_hash"`
	RemoteConfigStatus  string            `json:"remote_config_status"`
	RemoteConfigHash    string            `json:"remote_config_hash"`
	RemoteConfigError   string            `json:"remote_config_error"`
	DeploymentID        string            `json:"deployment_id"`
}

type deploymentView struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	ConfigHash string `json:"config_hash"`
	RollbackOf string `json:"rollback_of"`
	CreatedBy  string `json:"created_by"`
	Reason     string `json:"reason"`
	Status     string `json:"status"`
	Error      string `json:"error"`
	Delivered  bool   `json:"delivered"`
}

func (cp *controlPlane) agent(t *testing.T, id string) (agentView, bool) {
	t.Helper()
	_, b, err := cp.call(t, apiv1.Subject(config.ServiceController, "getAgent"), admin, map[string]string{"id": id}, nil)
	if err != nil {
		return agentView{}, false
	}
	var v agentView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode agent: %v", err)
	}
	return v, true
}

func (cp *controlPlane) push(t *testing.T, id string, body map[string]any) deploymentView {
	t.Helper()
	status, b, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), admin, map[string]string{"id": id}, body)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("push config: status %d, %v", status, err)
	}
	var d deploymentView
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (cp *controlPlane) history(t *testing.T, id string) []deploymentView {
	t.Helper()
	_, b, err := cp.call(t, apiv1.Subject(config.ServiceController, "getAgentHistory"), admin, map[string]string{"id": id}, nil)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	var out struct {
		Items []deploymentView `json:"items"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Items
}

// startAgent runs a real agent in-process; a new config has 20 s to become
// healthy (the real collector under a loaded CI machine).
func startAgent(t *testing.T, serverURL, bin, dataDir, token string) *agent.Agent {
	t.Helper()
	return startAgentWith(t, serverURL, bin, dataDir, token, 20*time.Second)
}

// startAgentWith is startAgent with another health timeout (the stand-in
// collector is healthy at once, so its tests use a short one).
func startAgentWith(t *testing.T, serverURL, bin, dataDir, token string, healthTimeout time.Duration) *agent.Agent {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("side", "agent")
	}
	a, err := agent.New(agent.Settings{
		ServerURL: serverURL, CollectorBin: bin, DataDir: dataDir, Token: token,
		Labels: map[string]string{"env": "e2e"}, Logger: logger,
		HealthTimeout: healthTimeout, HeartbeatInterval: time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a
}

// fakeCollector builds the stand-in collector: a real process that
// validates configs, serves health_check and stops on SIGTERM.
func fakeCollector(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakecollector")
	cmd := exec.Command("go", "build", "-o", bin, "./projects/agent/internal/supervisor/testdata/fakecollector")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fake collector: %v\n%s", err, out)
	}
	return bin
}

// realCollector returns bin/phoenix-collector (or $PHOENIX_COLLECTOR_BIN):
// skipped when absent locally, a failure in CI (which builds it first).
func realCollector(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PHOENIX_COLLECTOR_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(), "bin", "phoenix-collector")
	}
	if _, err := os.Stat(bin); err != nil {
		if testutil.InCI() {
			t.Fatalf("phoenix-collector is required in CI (make build-collector): %v", err)
		}
		t.Skipf("phoenix-collector not built (make build-collector): %v", err)
	}
	return bin
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscallZero) == nil
}

func fakeConfig(fake, healthAddr string) string {
	return fmt.Sprintf("fake: {%s}\nextensions:\n  health_check: {endpoint: %q}\nservice:\n  extensions: [health_check]\n", fake, healthAddr)
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// phoenixBinary builds cmd/phoenix once per test binary.
func phoenixBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "phoenix-e2e-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "phoenix")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/phoenix")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build phoenix: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
