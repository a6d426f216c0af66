package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// realCollector is $PHOENIX_COLLECTOR_BIN, else bin/phoenix-collector:
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
		t.Skipf("phoenix-collector not built (make build-collector, or set PHOENIX_COLLECTOR_BIN): %v", err)
	}
	return bin
}

// runAgent starts `phoenix agent run` (the built binary) with key in
// PHOENIX_AGENT_TOKEN, supervising the real collector, and returns its
// fleet id once it has written it.
func runAgent(t *testing.T, p *phoenix, collector, key string, labels ...string) string {
	t.Helper()
	dataDir := t.TempDir()
	args := []string{"agent", "run", "--server", "ws://" + p.opamp + "/v1/opamp", "--collector-bin", collector,
		"--data-dir", dataDir, "--health-timeout", "2m", "--log-level", "debug"}
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	cmd := exec.Command(phoenixBinary(t), args...)
	// The key is in the environment, not the process list; a stale
	// PHOENIX_INGEST_TOKEN here must not reach the collector.
	cmd.Env = append(os.Environ(), "PHOENIX_AGENT_TOKEN="+key, "PHOENIX_INGEST_TOKEN=stale-not-a-key")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second): // hang guard
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", tail(logs.String(), 60))
		}
		if strings.Contains(logs.String(), key) {
			t.Errorf("the agent's output contains its key")
		}
	})
	var id string
	testutil.Eventually(t, 30*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, "instance_uid"))
		id = strings.TrimSpace(string(b))
		return err == nil && id != ""
	}, "the agent never wrote its instance uid")
	return id
}

// sendToCollector posts OTLP/HTTP to the collector's own receiver; errors
// are returned, not fatal: the receiver restarts with every new config.
func sendToCollector(addr string, req *colmetrics.ExportMetricsServiceRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post("http://"+addr+"/v1/metrics", "application/x-protobuf", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("collector answered %d", resp.StatusCode)
	}
	return nil
}

// TestAgentCollectorIngests (ADR 0016, outside --dev): an agent whose key
// has the agent and ingest scopes hands that key and its id to the real
// phoenix-collector it supervises (PHOENIX_INGEST_TOKEN, PHOENIX_AGENT_ID),
// and the collector's exports to Phoenix ingest are accepted: first into
// the agent's own stream (a production config whose exporter carries
// pipelinegen.IngestHeaders), then, once an experiment selects the agent,
// into the experiment's reserved variant streams through the generated
// otlp_http/phoenix exporter. Nothing in the configs holds the key.
func TestAgentCollectorIngests(t *testing.T) {
	collector := realCollector(t)
	p := sharedPhoenix(t)
	const team = "col-team"
	agentKey := p.teamKey(t, team, "operator", "agent", "ingest")
	operator := p.teamKey(t, team, "operator", "write")
	agentID := runAgent(t, p, collector, agentKey, "env=sec-collector")
	testutil.Eventually(t, 60*time.Second, func() bool {
		status, _ := p.call(t, http.MethodGet, "/api/v1/agents/"+agentID, p.admin, nil)
		return status == http.StatusOK
	}, "agent %s never registered", agentID)

	// The production config: an OTLP intake this test feeds, exporting to
	// Phoenix ingest into the agent's own stream.
	stream := "agent-" + agentID
	recvHTTP := testutil.FreeAddr(t)
	headers := pipelinegen.IngestHeaders()
	headers["X-Phoenix-Stream"] = stream
	prod, err := pipelinegen.Generate(pipelinegen.Request{
		Template: "baseline",
		Source:   pipelinegen.Source{Kind: pipelinegen.SourceOTLP, GRPCEndpoint: testutil.FreeAddr(t), HTTPEndpoint: recvHTTP},
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{
			Type: "otlphttp", Endpoint: "http://" + p.otlpHTTP, Headers: headers,
		}},
		TelemetryAddr: testutil.FreeAddr(t), HealthAddr: testutil.FreeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(prod.Config, []byte(agentKey)) {
		t.Fatal("the generated config holds the key")
	}
	status, body := p.call(t, http.MethodPost, "/api/v1/agents/"+agentID+"/config", p.admin, map[string]any{
		"config": string(prod.Config), "reason": "security e2e: production config to Phoenix ingest",
	})
	var dep struct {
		ConfigHash string `json:"config_hash"`
	}
	if status != http.StatusAccepted || json.Unmarshal(body, &dep) != nil || dep.ConfigHash == "" {
		t.Fatalf("push config: %d %s", status, body)
	}
	waitApplied(t, p, agentID, dep.ConfigHash)

	// The hang guard is generous: the real collector starts slowly on a
	// loaded machine, and the exporter batches for a second.
	arrived := func(stream, metric string) func() bool {
		return func() bool {
			_ = sendToCollector(recvHTTP, gauges(metric, 3))
			status, inv, _ := p.inventory(t, stream)
			if status != http.StatusOK {
				return false
			}
			for _, m := range inv.Metrics {
				if m.Name == metric && m.Series > 0 {
					return true
				}
			}
			return false
		}
	}
	poll(t, 90*time.Second, arrived(stream, "col_prod"), func() string {
		return "the collector's data never reached stream " + stream + " (its exporter's credentials refused?)"
	})

	// An experiment selecting the agent: the controller reserves the
	// variant streams for this agent, then deploys the generated fan-out,
	// whose otlp_http/phoenix exporter sends the key and the agent's id.
	spec := map[string]any{
		"apiVersion": "phoenix.dev/v1alpha1", "kind": "Experiment",
		"metadata": map[string]any{"name": "seccol"},
		"spec": map[string]any{
			"target":     map[string]any{"selector": map[string]string{"env": "sec-collector"}},
			"baseline":   map[string]any{"template": "baseline"},
			"candidates": []any{map[string]any{"name": "topk", "template": "topk", "set": map[string]string{"k": "10"}}},
			// Long enough that no verdict or promotion happens during the test.
			"warmup": "1s", "duration": "30m",
			"criteria": map[string]any{"min_series_reduction_pct": 30},
		},
	}
	status, body = p.call(t, http.MethodPost, "/api/v1/experiments", operator, spec)
	var exp struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &exp) != nil || exp.ID == "" {
		t.Fatalf("create experiment: %d %s", status, body)
	}
	t.Cleanup(func() { _, _ = p.call(t, http.MethodPost, "/api/v1/experiments/"+exp.ID+"/stop", operator, nil) })
	if status, body := p.call(t, http.MethodPost, "/api/v1/experiments/"+exp.ID+"/start", operator, nil); status >= 300 {
		t.Fatalf("start experiment: %d %s", status, body)
	}
	for _, variant := range []string{"baseline", "topk"} {
		vs := "seccol--" + variant
		poll(t, 3*time.Minute, arrived(vs, "col_exp"), func() string {
			_, ev := p.call(t, http.MethodGet, "/api/v1/experiments/"+exp.ID+"/events", p.admin, nil)
			return fmt.Sprintf("the agent's data never reached the reserved variant stream %s; experiment events: %s", vs, ev)
		})
	}
	// The variant streams are the experiment team's, and reserved: the
	// same data from the team's plain ingest key is refused.
	teamIngest := p.teamKey(t, team, "operator", "ingest")
	if status, body := otlpWith(t, p, teamIngest, gauges("col_exp", 3, kv("phoenix.experiment.id", "seccol"), kv("phoenix.variant", "baseline")), nil); status != http.StatusForbidden {
		t.Errorf("team ingest key into the reserved seccol--baseline: %d %s, want 403", status, body)
	}
}

// waitApplied polls the agent's history until the deployment of hash is
// applied, failing on a failed one.
func waitApplied(t *testing.T, p *phoenix, agentID, hash string) {
	t.Helper()
	var last string
	poll(t, 3*time.Minute, func() bool {
		_, body := p.call(t, http.MethodGet, "/api/v1/agents/"+agentID+"/history", p.admin, nil)
		last = string(body)
		var h struct {
			Items []struct {
				ConfigHash string `json:"config_hash"`
				Status     string `json:"status"`
				Error      string `json:"error"`
			} `json:"items"`
		}
		if json.Unmarshal(body, &h) != nil {
			return false
		}
		for _, d := range h.Items {
			if d.ConfigHash == hash {
				if d.Status == "failed" {
					t.Fatalf("the agent refused the config: %s", d.Error)
				}
				return d.Status == "applied"
			}
		}
		return false
	}, func() string { return "config " + hash + " never applied; history: " + last })
}

// poll checks cond every half second (each check sends data and asks the
// API) until it holds, failing with why() after timeout.
func poll(t *testing.T, timeout time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, why())
		}
		<-tick.C
	}
}
