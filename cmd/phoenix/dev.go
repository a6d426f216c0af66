package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/projects/agent"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
)

// devPrincipal is who the --dev loop acts as when it deploys the local
// collector's config (recorded in the deployment history).
var devPrincipal = apiv1.Principal{Subject: "phoenix-dev", Kind: "system", Role: "admin"}

// devHosts and devInterval shape the demo traffic: a few hosts of the
// realistic profile, scraped every 5 s.
const (
	devHosts    = 3
	devInterval = 5 * time.Second
)

// devFleet starts, with --dev, what a laptop needs to see Phoenix work: a
// local agent (in-process) supervising a local phoenix-collector, the
// production pipeline pushed to it over OpAMP, and loadsim traffic into its
// OTLP intake. Without a collector binary it warns and continues.
func devFleet(ctx context.Context, a *app.App) (func(), error) {
	cfg := a.Settings.Config
	if !cfg.Dev {
		return nil, nil
	}
	log := a.Settings.Logger.With("component", "dev")
	if !cfg.Runs(config.ServiceController) {
		log.Warn("--dev: the controller does not run in this process; no local agent")
		return nil, nil
	}
	bin := cfg.Controller.CollectorBin
	if bin == "" {
		bin = generator.ConfigFrom(cfg).CollectorBin // the one the generator validates with
	}
	if bin == "" {
		bin = agent.DefaultCollectorBin()
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		log.Warn("--dev: no phoenix-collector found; running without the local agent, collector and demo traffic "+
			"(build it with `make build`, or set PHOENIX_COLLECTOR_BIN / --controller-collector-bin)", "collector_bin", bin)
		return nil, nil
	}
	ag, err := agent.New(agent.Settings{
		ServerURL:    "ws://" + loopback(cfg.Controller.OpAMPAddr) + "/v1/opamp",
		CollectorBin: bin,
		DataDir:      filepath.Join(cfg.DataDir, "dev-agent"),
		Labels:       map[string]string{"env": "dev", "team": "default"},
		Logger:       a.Settings.Logger.With("component", "dev-agent"),
	})
	if err != nil {
		return nil, fmt.Errorf("--dev agent: %w", err)
	}
	if err := ag.Start(ctx); err != nil {
		return nil, fmt.Errorf("--dev agent: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		collectorCfg, err := pipelinegen.GenerateDev(devPipeline(cfg, hostMetricsAllowed()))
		if err != nil {
			log.Error("--dev: could not generate the local collector's config", "error", err)
			return
		}
		hash, err := deployDev(bg, a.Settings.Bus, ag.ID(), string(collectorCfg.Config), log)
		if err != nil {
			if bg.Err() == nil {
				log.Error("--dev: could not deploy the local collector's config", "error", err)
			}
			return
		}
		if !waitFor(bg, 90*time.Second, func() bool { return ag.EffectiveConfigHash() == hash && ag.Healthy(bg) }) {
			if bg.Err() == nil {
				log.Warn("--dev: the local collector did not become healthy; see `phoenix agent get " + ag.ID() + "`")
			}
			return
		}
		log.Info("--dev: local collector healthy", "agent_id", ag.ID(), "config_hash", hash,
			"otlp_http", cfg.Controller.DevOTLPHTTPAddr, "otlp_grpc", cfg.Controller.DevOTLPGRPCAddr)
		runDemoTraffic(bg, "http://"+loopback(cfg.Controller.DevOTLPHTTPAddr), log)
	}()
	return func() {
		cancel()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		if err := ag.Stop(sctx); err != nil {
			log.Warn("--dev: stop local agent", "error", err)
		}
	}, nil
}

// deployDev waits until the controller knows the local agent, then pushes
// the collector config to it (recorded as a deployment) and returns its hash.
func deployDev(ctx context.Context, bus *messaging.Bus, agentID, collectorCfg string, log *slog.Logger) (string, error) {
	params := map[string]string{"id": agentID}
	if !waitFor(ctx, 60*time.Second, func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := bus.Request(rctx, controller.SubjectAgentGet, apiv1.Request{Principal: devPrincipal, Params: params}, nil)
		return err == nil
	}) {
		return "", errors.New("the local agent did not connect to the OpAMP server within 60s")
	}
	body, err := json.Marshal(map[string]string{
		"config": collectorCfg, "reason": "phoenix server --dev: the local collector's production pipeline",
	})
	if err != nil {
		return "", err
	}
	var d struct {
		ID         string `json:"id"`
		ConfigHash string `json:"config_hash"`
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := bus.Request(rctx, controller.SubjectAgentConfig, apiv1.Request{
		Method: "POST", Principal: devPrincipal, Params: params, Body: body,
	}, &d); err != nil {
		return "", fmt.Errorf("push config: %w", err)
	}
	log.Info("--dev: pushed the local collector's config", "agent_id", agentID, "deployment_id", d.ID, "config_hash", d.ConfigHash)
	return d.ConfigHash, nil
}

// runDemoTraffic feeds the local collector with loadsim's realistic profile
// until ctx ends, starting over when the collector keeps refusing.
func runDemoTraffic(ctx context.Context, target string, log *slog.Logger) {
	for seed := int64(1); ctx.Err() == nil; seed++ {
		err := runLoadgen(ctx, target, seed)
		if ctx.Err() != nil {
			return
		}
		log.Warn("--dev: demo traffic stopped; restarting in 10s", "error", err)
		t := time.NewTimer(10 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func runLoadgen(ctx context.Context, target string, seed int64) error {
	profile, err := loadgen.Builtin(loadgen.ProfileRealistic)
	if err != nil {
		return err
	}
	sim, err := loadgen.New(loadgen.Config{Profile: profile, Hosts: devHosts, Seed: seed, Start: time.Now()})
	if err != nil {
		return err
	}
	t, err := loadgen.ParseTarget(target, "")
	if err != nil {
		return err
	}
	exp, err := loadgen.NewExporter(t, loadgen.ExporterOptions{UserAgent: "phoenix-dev-loadsim"})
	if err != nil {
		return err
	}
	defer exp.Close()
	r, err := loadgen.NewRunner(sim, exp, loadgen.RunConfig{Interval: devInterval})
	if err != nil {
		return err
	}
	_, err = r.Run(ctx)
	if err == nil {
		err = errors.New("run ended")
	}
	return err
}

// waitFor polls cond every 250 ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// loopback turns a listen address (":4320", "0.0.0.0:4318") into one to
// dial on this machine.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// hostMetricsAllowed reports whether this host lets the hostmetrics process
// scraper read other processes (Linux /proc).
func hostMetricsAllowed() bool {
	if runtime.GOOS != "linux" {
		return false
	}
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// devPipeline is the --dev collector's request to pipelinegen: the
// DevTemplate preset over the dev source (OTLP intake for loadsim and, where
// allowed, this host's processes), exported to this server's own ingest.
func devPipeline(cfg *config.Server, hostProcesses bool) pipelinegen.DevRequest {
	return pipelinegen.DevRequest{
		OTLPGRPCEndpoint: cfg.Controller.DevOTLPGRPCAddr,
		OTLPHTTPEndpoint: cfg.Controller.DevOTLPHTTPAddr,
		HostProcesses:    hostProcesses,
		IngestEndpoint:   "http://" + loopback(cfg.Analytics.OTLPHTTPAddr),
		TelemetryAddr:    cfg.Controller.DevTelemetryAddr,
		HealthAddr:       cfg.Controller.DevHealthAddr,
	}
}
