package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
)

// expPlane is a control plane with analytics, the controller and the
// generator (its own embedded NATS, so only this test's services answer),
// rolling up every second so a 10 s experiment has ten windows.
type expPlane struct {
	*controlPlane
	ctl    *controller.Controller
	health string
	telem  string
}

func startExperimentPlane(t *testing.T, bin string) *expPlane {
	t.Helper()
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceController, config.ServiceGenerator)
	generator.ConfigFrom(cfg).CollectorBin = bin
	cfg.Auth.IngestOpen = true
	analytics.ConfigFrom(cfg).RollupInterval = time.Second
	ep := &expPlane{health: testutil.FreeAddr(t), telem: testutil.FreeAddr(t)}
	newController := func(s service.Settings) (service.Service, error) {
		c, err := controller.NewController(s)
		if err != nil {
			return nil, err
		}
		// The receivers (1 s host metrics) and ports come from the
		// agent's production config, not from options.
		c.ExperimentOptions.Interval, c.ExperimentOptions.ApplyTimeout = 250*time.Millisecond, 40*time.Second
		ep.ctl = c
		return c, nil
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctl := controller.Registration()
	ctl.New = newController
	a, err := app.Start(context.Background(), cfg, logger, []service.Registration{
		analytics.Registration(), generator.Registration(), ctl,
	})
	if err != nil {
		t.Fatal(err)
	}
	ep.controlPlane = &controlPlane{cfg: cfg, app: a}
	t.Cleanup(ep.stop)
	return ep
}

// productionAgent starts a real agent with the real collector and gives it
// a production config (every process of this host to analytics' default
// stream), returning the agent id, its team and that deployment.
func (ep *expPlane) productionAgent(t *testing.T, bin string) (string, string, deploymentView) {
	t.Helper()
	return ep.productionAgentOn(t, bin, ep.health, ep.telem)
}

// productionAgentOn is productionAgent with the collector's health and
// telemetry ports (two collectors on one host need their own).
func (ep *expPlane) productionAgentOn(t *testing.T, bin, health, telem string) (string, string, deploymentView) {
	t.Helper()
	ag := startAgent(t, ep.opampURL(), bin, t.TempDir(), "")
	res, err := pipelinegen.Generate(pipelinegen.Request{
		Template: "baseline", Source: pipelinegen.Source{CollectionInterval: "1s"},
		TelemetryAddr: telem, HealthAddr: health,
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://" + ep.cfg.Analytics.OTLPHTTPAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := ep.agent(t, ag.ID())
		return ok && v.Connected
	}, "agent never enrolled")
	d := ep.push(t, ag.ID(), map[string]any{"config": string(res.Config), "reason": "production"})
	v := ep.waitRunning(t, ag.ID(), d.ConfigHash, "production config")
	return ag.ID(), v.Team, d
}

func (ep *expPlane) waitRunning(t *testing.T, id, hash, what string) agentView {
	t.Helper()
	var v agentView
	testutil.Eventually(t, 40*time.Second, func() bool {
		v, _ = ep.agent(t, id)
		return v.EffectiveConfigHash == hash && v.Healthy != nil && *v.Healthy
	}, "agent never ran the %s healthily (status %s, error %s)", what, v.RemoteConfigStatus, v.RemoteConfigError)
	return v
}

// experimentView is what the tests read of a stored experiment; the
// controller returns its internal record, read here through JSON.
type experimentView struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Results *struct {
		Outcome    string   `json:"outcome"`
		Winner     string   `json:"winner"`
		Reasons    []string `json:"reasons"`
		Candidates []struct {
			Name     string   `json:"name"`
			Outcome  string   `json:"outcome"`
			Failed   []string `json:"failed_criteria"`
			Windows  int      `json:"windows"`
			Criteria []struct {
				Criterion string   `json:"criterion"`
				Measured  *float64 `json:"measured"`
				Threshold float64  `json:"threshold"`
				Result    string   `json:"result"`
			} `json:"criteria"`
		} `json:"candidates"`
	} `json:"results"`
}

func (ep *expPlane) create(t *testing.T, team, spec string) string {
	t.Helper()
	rec, err := ep.ctl.Experiments().Create(context.Background(), team, "alice", []byte(spec), true)
	if err != nil {
		t.Fatalf("create experiment: %v", err)
	}
	return rec.ID
}

func (ep *expPlane) experiment(t *testing.T, id string) experimentView {
	t.Helper()
	rec, err := ep.ctl.Experiments().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var v experimentView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (ep *expPlane) waitState(t *testing.T, id string, timeout time.Duration, states ...string) experimentView {
	t.Helper()
	var v experimentView
	testutil.Eventually(t, timeout, func() bool {
		v = ep.experiment(t, id)
		for _, s := range states {
			if v.State == s {
				return true
			}
		}
		return false
	}, "experiment %s never reached %v (state %s, results %+v)", id, states, v.State, v.Results)
	return v
}

func measured(t *testing.T, v experimentView, candidate, criterion string) (float64, string) {
	t.Helper()
	for _, c := range v.Results.Candidates {
		if c.Name != candidate {
			continue
		}
		for _, cr := range c.Criteria {
			if cr.Criterion == criterion && cr.Measured != nil {
				return *cr.Measured, cr.Result
			}
		}
	}
	t.Fatalf("%s of %s not measured: %+v", criterion, candidate, v.Results)
	return 0, ""
}

func expSpec(name, selector, candidate, onSuccess string) string {
	return fmt.Sprintf(`apiVersion: phoenix.dev/v1alpha1
kind: Experiment
metadata: {name: %s}
spec:
  target: {selector: {env: %s}}
  baseline: {template: baseline}
  candidates:
    - %s
  warmup: 3s
  duration: 10s
  critical: ['process.executable.name=~"nginx|postgres"']
  criteria: {min_series_reduction_pct: 30, min_critical_retention_pct: 100}
  on_success: %s
`, name, selector, candidate, onSuccess)
}

func fleetHash(config string) string {
	sum := sha256.Sum256([]byte(config))
	return hex.EncodeToString(sum[:])
}

// TestExperimentTopKPromotedThenRolledBack: baseline vs top-K on this
// host's processes (postgres among them) through a real agent and the real
// collector: the candidate cuts series by at least 30 % and keeps every
// postgres process, so it succeeds and is promoted as a stored pipeline
// the agent then runs; a fleet rollback restores the production config.
func TestExperimentTopKPromotedThenRolledBack(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	agentID, team, prod := ep.productionAgent(t, bin)

	id := ep.create(t, team, expSpec("topk-e2e", "e2e",
		`{name: topk, template: topk, set: {k: "5", critical: "nginx|postgres"}}`, "promote"))
	v := ep.waitState(t, id, 60*time.Second, "promoted", "failed", "inconclusive", "errored", "rolled_back")
	if v.State != "promoted" || v.Results == nil || v.Results.Winner != "topk" {
		t.Fatalf("experiment ended %s: %+v", v.State, v.Results)
	}
	red, res := measured(t, v, "topk", "min_series_reduction_pct")
	if red < 30 || res != "pass" {
		t.Errorf("series reduction %.1f%% (%s), want >= 30", red, res)
	}
	ret, res := measured(t, v, "topk", "min_critical_retention_pct")
	if ret < 100 || res != "pass" {
		t.Errorf("critical retention %.1f%% (%s), want 100", ret, res)
	}
	t.Logf("topk: series reduction %.1f%%, critical retention %.0f%% over %d windows", red, ret, v.Results.Candidates[0].Windows)

	// The winner is a stored pipeline, and the agent runs exactly it.
	status, body, err := ep.call(t, apiv1.Subject("generator", "listPipelines"), admin, nil, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list pipelines: %d %v", status, err)
	}
	var list struct {
		Items []struct {
			ID, Name string
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	want := "topk-e2e-topk-" + strings.TrimPrefix(id, "exp-")
	var pipelineID string
	for _, p := range list.Items {
		if p.Name == want {
			if pipelineID != "" {
				t.Fatalf("the winner was stored twice as %s", want)
			}
			pipelineID = p.ID
		}
	}
	if pipelineID == "" {
		t.Fatalf("no stored pipeline %s among %+v", want, list.Items)
	}
	_, body, err = ep.call(t, apiv1.Subject("generator", "getPipeline"), admin, map[string]string{"id": pipelineID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pv struct {
		Config string `json:"config"`
	}
	if err := json.Unmarshal(body, &pv); err != nil {
		t.Fatal(err)
	}
	ep.waitRunning(t, agentID, fleetHash(pv.Config), "promoted pipeline")

	// History, newest first: the promoted pipeline version, the return to
	// production, the experiment, production.
	var kinds []string
	for _, d := range ep.history(t, agentID) {
		kinds = append(kinds, d.Kind+":"+d.CreatedBy)
	}
	if got := strings.Join(kinds, ","); got != "pipeline:experiment-runner,rollback:experiment-runner,raw:experiment-runner,raw:alice" {
		t.Errorf("history (newest first) %s", got)
	}
	_, body, err = ep.call(t, apiv1.Subject("controller", "getAgent"), admin, map[string]string{"id": agentID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var running struct {
		PipelineID      string `json:"pipeline_id"`
		PipelineVersion int    `json:"pipeline_version"`
	}
	if err := json.Unmarshal(body, &running); err != nil {
		t.Fatal(err)
	}
	if running.PipelineID != pipelineID || running.PipelineVersion != 1 {
		t.Errorf("agent runs pipeline %q v%d, want %s v1", running.PipelineID, running.PipelineVersion, pipelineID)
	}

	// Rolling the fleet back restores the production config.
	ep.push(t, agentID, map[string]any{"rollback_to": prod.ID, "reason": "undo the promotion"})
	ep.waitRunning(t, agentID, prod.ConfigHash, "production config after the rollback")
}

// TestExperimentStoredPipelineVariant: a candidate named as a stored
// pipeline (`pipeline: name`) runs that version's processors in the
// fan-out: the stored top-K cuts series and keeps postgres, so it
// succeeds; the experiment's spec is pinned to the version it ran.
func TestExperimentStoredPipelineVariant(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	agentID, team, prod := ep.productionAgent(t, bin)
	gen := pipelinegen.Request{
		Template: "topk", Set: map[string]string{"k": "5", "critical": "nginx|postgres"},
		Source: pipelinegen.Source{CollectionInterval: "1s"},
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://" + ep.cfg.Analytics.OTLPHTTPAddr}},
	}
	status, body, err := ep.call(t, apiv1.Subject("generator", "createPipeline"), admin, nil, map[string]any{
		"name": "topk-stored", "team": team, "reason": "e2e stored variant", "generate": gen,
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create pipeline: %d %v %s", status, err, body)
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if _, err := ep.ctl.Experiments().Create(context.Background(), team, "alice",
		[]byte(expSpec("stored-missing-e2e", "e2e", `{name: topk, pipeline: no-such-pipeline}`, "wait")), true); err == nil ||
		!strings.Contains(err.Error()+fmt.Sprint(problem.From(err).Errors), "spec.candidates[0].pipeline") {
		t.Fatalf("a missing stored pipeline was accepted: %v", err)
	}

	id := ep.create(t, team, expSpec("stored-e2e", "e2e", `{name: topk, pipeline: topk-stored}`, "wait"))
	rec, err := ep.ctl.Experiments().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Spec.Spec.Candidates[0].Pipeline; got != p.ID+"@1" {
		t.Fatalf("candidate pipeline pinned as %q, want %s@1", got, p.ID)
	}
	v := ep.waitState(t, id, 60*time.Second, "succeeded", "failed", "inconclusive", "errored")
	if v.State != "succeeded" || v.Results.Winner != "topk" {
		t.Fatalf("experiment ended %s: %+v", v.State, v.Results)
	}
	red, _ := measured(t, v, "topk", "min_series_reduction_pct")
	ret, _ := measured(t, v, "topk", "min_critical_retention_pct")
	if red < 30 || ret < 100 {
		t.Fatalf("stored top-K: series reduction %.1f%%, critical retention %.1f%%", red, ret)
	}
	t.Logf("stored top-K: series reduction %.1f%%, critical retention %.0f%%; reasons %q", red, ret, v.Results.Reasons)
	ep.waitRunning(t, agentID, prod.ConfigHash, "production config after the experiment")
}

// TestExperimentDropsPostgresFails: a candidate that drops postgres, which
// the experiment declares critical, fails on critical retention, and the
// agent returns to its production config.
func TestExperimentDropsPostgresFails(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	agentID, team, prod := ep.productionAgent(t, bin)

	id := ep.create(t, team, expSpec("drops-postgres-e2e", "e2e",
		`{name: drop-postgres, strategies: [{type: priority_tiers, tiers: {critical: nginx, low: 'postgres|kworker/.*|ksoftirqd/.*'}}]}`, "wait"))
	v := ep.waitState(t, id, 60*time.Second, "succeeded", "failed", "inconclusive", "errored")
	if v.State != "failed" {
		t.Fatalf("experiment ended %s: %+v", v.State, v.Results)
	}
	c := v.Results.Candidates[0]
	if !strings.Contains(strings.Join(c.Failed, ","), "min_critical_retention_pct") ||
		!strings.Contains(strings.Join(v.Results.Reasons, ";"), "min_critical_retention_pct") {
		t.Fatalf("failure does not name critical retention: %+v", v.Results)
	}
	ret, _ := measured(t, v, "drop-postgres", "min_critical_retention_pct")
	if ret >= 100 {
		t.Fatalf("critical retention %.1f%% with postgres dropped", ret)
	}
	t.Logf("drop-postgres: critical retention %.1f%%; reasons %q", ret, v.Results.Reasons)
	ep.waitRunning(t, agentID, prod.ConfigHash, "production config after the experiment")
}

// TestExperimentNoAgentInconclusive: a selector that matches no agent is
// inconclusive at once, never a success.
func TestExperimentNoAgentInconclusive(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	id := ep.create(t, "default", expSpec("nobody-e2e", "nowhere",
		`{name: topk, template: topk, set: {k: "5"}}`, "promote"))
	v := ep.waitState(t, id, 20*time.Second, "succeeded", "failed", "inconclusive", "errored", "promoted")
	if v.State != "inconclusive" || !strings.Contains(strings.Join(v.Results.Reasons, ";"), "selector matched none") {
		t.Fatalf("experiment ended %s: %+v", v.State, v.Results)
	}
}

// oldCollector wraps the real collector as one that lacks a component a
// config uses: it refuses (at validation, as the agent checks every
// config) any config containing marker, and runs every other one.
func oldCollector(t *testing.T, real, marker string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "old-collector")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
  if [ -f "$a" ] && grep -q %q "$a"; then
    echo "error: this collector lacks a component the config uses" >&2
    exit 1
  fi
done
exec %q "$@"
`, marker, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestRolloutSecondStepFailsRollsBackEveryAgent: a staged rollout (50 %,
// then 100 %) of a stored pipeline to two real agents. The second agent's
// collector is an older one that refuses the pipeline, so step 2 fails,
// and both agents, the first included, get their production configs back.
func TestRolloutSecondStepFailsRollsBackEveryAgent(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	rolloutHealth := testutil.FreeAddr(t) // appears only in the rolled-out pipeline
	a1, team, prod1 := ep.productionAgentOn(t, bin, testutil.FreeAddr(t), testutil.FreeAddr(t))
	a2, _, prod2 := ep.productionAgentOn(t, oldCollector(t, bin, rolloutHealth), testutil.FreeAddr(t), testutil.FreeAddr(t))
	if a2 < a1 {
		t.Fatalf("agent ids %s, %s: the runner orders agents by id and the older collector must come second", a1, a2)
	}

	gen := pipelinegen.Request{
		Template: "conservative", Source: pipelinegen.Source{CollectionInterval: "1s"},
		TelemetryAddr: testutil.FreeAddr(t), HealthAddr: rolloutHealth,
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://" + ep.cfg.Analytics.OTLPHTTPAddr}},
	}
	status, body, err := ep.call(t, apiv1.Subject("generator", "createPipeline"), admin, nil, map[string]any{
		"name": "conservative-fleet", "team": team, "reason": "e2e rollout", "generate": gen,
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create pipeline: %d %v %s", status, err, body)
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}

	ro, err := ep.ctl.Experiments().CreateRollout(context.Background(), "alice", controller.RolloutRequest{
		Team: team, PipelineID: p.ID, Selector: map[string]string{"env": "e2e"},
		Strategy: "staged", Steps: []int{50, 100}, Pause: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var state, reason string
	testutil.Eventually(t, 60*time.Second, func() bool {
		cur, err := ep.ctl.Experiments().GetRollout(context.Background(), ro.ID)
		if err != nil {
			t.Fatal(err)
		}
		state, reason = string(cur.State), cur.Reason
		return state == "succeeded" || state != "rolling" && cur.Progress.Restored
	}, "rollout never finished")
	if state != "rolled_back" || !strings.HasPrefix(reason, "step 2 (100%)") {
		t.Fatalf("rollout %s: %s; want rolled_back at step 2", state, reason)
	}
	t.Logf("rolled back: %s", reason)
	ep.waitRunning(t, a1, prod1.ConfigHash, "first agent's production config after the rollback")
	ep.waitRunning(t, a2, prod2.ConfigHash, "second agent's production config after the rollback")
	// The first agent did run the rollout's pipeline before the rollback.
	var kinds []string
	for _, d := range ep.history(t, a1) {
		kinds = append(kinds, d.Kind)
	}
	if !slices.Contains(kinds, "pipeline") || kinds[0] != "rollback" {
		t.Fatalf("first agent's history %v: want the rollout's pipeline, then a rollback", kinds)
	}
}

// TestRolloutCriticalEntityLostRollsBackEveryAgent: a staged rollout (50 %,
// then 100 %) to two real agents on this host of a pipeline that drops
// postgres, which the rollout names critical. Both agents scrape the same
// processes into analytics' default stream, so after step 1 postgres still
// arrives (from the second agent's production config); after step 2 it
// stops, and the whole rollout rolls back though every agent is healthy.
func TestRolloutCriticalEntityLostRollsBackEveryAgent(t *testing.T) {
	bin := realCollector(t)
	ep := startExperimentPlane(t, bin)
	a1, team, prod1 := ep.productionAgentOn(t, bin, testutil.FreeAddr(t), testutil.FreeAddr(t))
	a2, _, prod2 := ep.productionAgentOn(t, bin, testutil.FreeAddr(t), testutil.FreeAddr(t))

	// One config for both collectors on one host: no health_check and no
	// telemetry port, so the two do not compete for a port and stay healthy.
	res, err := pipelinegen.Generate(pipelinegen.Request{
		Strategies: []pipelinegen.Strategy{{Type: "priority_tiers", Tiers: &pipelinegen.Tiers{Critical: "nginx", Low: "postgres|kworker/.*|ksoftirqd/.*"}}},
		Source:     pipelinegen.Source{CollectionInterval: "1s"},
		Target:     pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://" + ep.cfg.Analytics.OTLPHTTPAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(res.Config, &doc); err != nil {
		t.Fatal(err)
	}
	doc["service"].(map[string]any)["telemetry"] = map[string]any{"metrics": map[string]any{"level": "none"}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := ep.call(t, apiv1.Subject("generator", "createPipeline"), admin, nil, map[string]any{
		"name": "drops-postgres-fleet", "team": team, "reason": "e2e rollout", "config": string(raw),
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create pipeline: %d %v %s", status, err, body)
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	// The rollout records what arrived in the last minute: wait until the
	// production configs' postgres processes have reached analytics.
	testutil.Eventually(t, 30*time.Second, func() bool {
		var rep apiv1.EntitiesReply
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := ep.app.Settings.Bus.Request(ctx, apiv1.SubjectAnalyticsEntities, apiv1.EntitiesRequest{Stream: apiv1.DefaultStream,
			Matchers: []string{`process.executable.name=~"postgres"`}, Keys: []string{"host.name", "process.executable.name"}}, &rep)
		return err == nil && len(rep.Results) == 1 && rep.Results[0].Count > 0
	}, "postgres never reached analytics' default stream")
	ro, err := ep.ctl.Experiments().CreateRollout(context.Background(), "alice", controller.RolloutRequest{
		Team: team, PipelineID: p.ID, Selector: map[string]string{"env": "e2e"},
		Strategy: "staged", Steps: []int{50, 100}, Pause: 3 * time.Second,
		Critical: []string{`process.executable.name=~"postgres"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	cur := ro
	testutil.Eventually(t, 150*time.Second, func() bool {
		cur, err = ep.ctl.Experiments().GetRollout(context.Background(), ro.ID)
		if err != nil {
			t.Fatal(err)
		}
		return cur.State == "succeeded" || cur.State != "rolling" && cur.Progress.Restored
	}, "rollout never finished")
	if cur.State != "rolled_back" || !strings.HasPrefix(cur.Reason, "step 2 (100%): analytics no longer receives") ||
		!strings.Contains(cur.Reason, "process.executable.name=postgres") {
		evs, _ := ep.ctl.Experiments().RolloutEvents(context.Background(), ro.ID)
		t.Fatalf("rollout %s: %s; want rolled_back at step 2 for the lost postgres (critical baseline %+v; events %+v)", cur.State, cur.Reason, cur.CriticalBaseline, evs)
	}
	if len(cur.CriticalBaseline) != 1 || len(cur.CriticalBaseline[0].Entities) == 0 {
		t.Fatalf("critical baseline %+v: postgres should have arrived before the rollout", cur.CriticalBaseline)
	}
	t.Logf("rolled back: %s", cur.Reason)
	ep.waitRunning(t, a1, prod1.ConfigHash, "first agent's production config after the rollback")
	ep.waitRunning(t, a2, prod2.ConfigHash, "second agent's production config after the rollback")
	for _, id := range []string{a1, a2} {
		var kinds []string
		for _, d := range ep.history(t, id) {
			kinds = append(kinds, d.Kind)
		}
		if !slices.Contains(kinds, "pipeline") || kinds[0] != "rollback" {
			t.Fatalf("agent %s history %v: want the rollout's pipeline, then a rollback", id, kinds)
		}
	}
}
