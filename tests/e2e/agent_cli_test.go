package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// TestAgentRunBinary runs the built `phoenix server` with agents closed
// (tokens required), creates an API key with scope agent through the API,
// and runs `phoenix agent run` with it: the agent enrols, takes a config
// pushed through the REST API, shows up in `phoenix agent list|history`,
// and stops its collector on SIGTERM. An agent with a bogus token never
// enrols.
func TestAgentRunBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phoenix binary")
	}
	bin := phoenixBinary(t)
	collector := fakeCollector(t)
	apiAddr, opampAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	srv := exec.Command(bin, "server", "--services", "controller,platform-api")
	srv.Env = append(os.Environ(),
		"PHOENIX_DATA_DIR="+t.TempDir(),
		"PHOENIX_BOOTSTRAP_ADMIN_PASSWORD="+devAdminPassword,
		"PHOENIX_API_ADDR="+apiAddr,
		"PHOENIX_CONTROLLER_OPAMP_ADDR="+opampAddr,
	)
	var srvLogs bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLogs, &srvLogs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", tail(srvLogs.String(), 40))
		}
	})
	base := "http://" + apiAddr
	var tok string
	testutil.Eventually(t, 30*time.Second, func() bool { tok = login(base); return tok != "" }, "login failed")

	var key struct {
		Key string `json:"key"`
	}
	status, body := post(t, base+"/api/v1/apikeys", tok, map[string]any{"name": "agent-e2e", "role": "operator", "scopes": []string{"agent"}})
	if status != http.StatusCreated && status != http.StatusOK || json.Unmarshal(body, &key) != nil || key.Key == "" {
		t.Fatalf("create API key: %d %s", status, body)
	}

	run := func(token, dataDir string) (*exec.Cmd, *lockedBuffer) {
		tokenFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "agent", "run", "--server", "ws://"+opampAddr+"/v1/opamp",
			"--collector-bin", collector, "--data-dir", dataDir, "--label", "env=e2e", "--token-file", tokenFile, "--health-timeout", "10s")
		logs := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd, logs
	}
	agentDir := t.TempDir()
	good, goodLogs := run(key.Key, agentDir)
	_, badLogs := run("phx_"+strings.Repeat("x", 50), t.TempDir())

	var agents struct {
		Items []agentView `json:"items"`
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		return getJSON(base+"/api/v1/agents", tok, &agents) && len(agents.Items) == 1 && agents.Items[0].Connected
	}, "agent with a valid key did not enrol (or the bogus one did): %+v", agents.Items)
	id := agents.Items[0].ID

	cfg := fakeConfig("", testutil.FreeAddr(t))
	status, body = post(t, base+"/api/v1/agents/"+id+"/config", tok, map[string]any{"config": cfg, "reason": "via REST"})
	if status != http.StatusAccepted {
		t.Fatalf("push: %d %s", status, body)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		var a agentView
		return getJSON(base+"/api/v1/agents/"+id, tok, &a) && a.RemoteConfigStatus == "applied" && a.Healthy != nil && *a.Healthy
	}, "pushed config never applied")

	cli := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"--api-url", base, "-o", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "PHOENIX_TOKEN="+tok)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("phoenix %v: %v", args, err)
		}
		return string(out)
	}
	if out := cli("agent", "list"); !strings.Contains(out, id) {
		t.Errorf("agent list lacks %s:\n%s", id, out)
	}
	if out := cli("agent", "history", id); !strings.Contains(out, `"reason": "via REST"`) || !strings.Contains(out, `"status": "applied"`) {
		t.Errorf("agent history:\n%s", out)
	}
	if !strings.Contains(badLogs.String(), "401") {
		t.Errorf("the refused agent does not say why:\n%s", badLogs.String())
	}

	// SIGTERM stops the agent and its collector.
	collectorRuns := false
	for _, p := range processesMentioning(agentDir) {
		collectorRuns = collectorRuns || strings.Contains(p, "--config ")
	}
	if !collectorRuns {
		t.Fatalf("no collector process runs a config from %s", agentDir)
	}
	if err := good.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- good.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exit: %v\n%s", err, goodLogs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop within 20s of SIGTERM")
	}
	if left := processesMentioning(agentDir); len(left) > 0 {
		t.Fatalf("left running after the agent stopped: %v", left)
	}
}

func post(t *testing.T, url, tok string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
