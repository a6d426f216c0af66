package loadsim

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/loadsim/internal/manager"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type env struct {
	t    *testing.T
	bus  *messaging.Bus
	svc  *Service
	sink *httptest.Server
	got  *atomic.Int64 // processes the sink received
}

var (
	teamA = apiv1.Principal{Subject: "alice", Kind: "user", Role: "operator", Teams: []string{"team-a"}}
	teamB = apiv1.Principal{Subject: "bruno", Kind: "user", Role: "operator", Teams: []string{"team-b"}}
	admin = apiv1.Principal{Subject: "root", Kind: "user", Role: "admin"}
)

func newEnv(t *testing.T, mod func(*manager.Settings)) *env {
	t.Helper()
	var got atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, zr)
		got.Add(1)
	}))
	t.Cleanup(sink.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := messaging.Connect(context.Background(), messaging.Settings{DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	cfg := config.DefaultServer()
	allowed, err := AllowedTargets(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := loadgen.ParseTarget(sink.URL, "")
	ms := manager.Settings{
		Allowed: append(allowed, tg.Key()), MaxConcurrent: 3, MaxDuration: time.Hour, MaxProcesses: 10000,
		Logger: logger, MinInterval: 100 * time.Millisecond, Registerer: telemetry.NewMetrics().Registry,
	}
	if mod != nil {
		mod(&ms)
	}
	svc := newService(service.Settings{Config: &cfg, Logger: logger, Bus: bus, Metrics: telemetry.NewMetrics()}, ms)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, bus: bus, svc: svc, sink: sink, got: &got}
}

// call sends a gateway-style request over NATS.
func (e *env) call(subject string, p apiv1.Principal, params map[string]string, body any, out any) (int, error) {
	e.t.Helper()
	req := apiv1.Request{Principal: p, Params: params}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Body = raw
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, raw, err := e.bus.RequestRaw(ctx, subject, req)
	if err != nil {
		return 0, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %s: %v: %s", subject, err, raw)
		}
	}
	return status, nil
}

func statusOf(err error) int {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

func (e *env) start(p apiv1.Principal, req loadgen.StartRequest) (loadgen.SimulationInfo, error) {
	var info loadgen.SimulationInfo
	status, err := e.call(apiv1.Subject(config.ServiceLoadsim, "startLoadsim"), p, nil, req, &info)
	if err == nil && status != http.StatusCreated {
		e.t.Fatalf("start answered %d, want 201", status)
	}
	return info, err
}

func (e *env) get(p apiv1.Principal, id string) (loadgen.SimulationInfo, error) {
	var info loadgen.SimulationInfo
	_, err := e.call(apiv1.Subject(config.ServiceLoadsim, "getLoadsim"), p, map[string]string{"id": id}, nil, &info)
	return info, err
}

func seed(v int64) *int64 { return &v }

func TestStartGetListStop(t *testing.T) {
	e := newEnv(t, nil)
	info, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 2, Target: e.sink.URL, Duration: "1h", Interval: "100ms", Seed: seed(5)})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != loadgen.StateRunning || info.Team != "team-a" || info.CreatedBy != "alice" || info.Seed != 5 || !strings.HasPrefix(info.ID, "ls-") {
		t.Fatalf("start answered %+v", info)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err := e.get(teamA, info.ID)
		return err == nil && got.Stats.DatapointsSent >= 3*2*30*9
	}, "three scrapes of 2 hosts x 30 processes delivered")
	if e.got.Load() == 0 {
		t.Fatal("the sink received nothing")
	}
	var list apiv1.List[loadgen.SimulationInfo]
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "listLoadsim"), teamA, nil, nil, &list); err != nil || len(list.Items) != 1 || list.Items[0].ID != info.ID {
		t.Fatalf("list: %v %+v", err, list)
	}
	var stopped loadgen.SimulationInfo
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), teamA, map[string]string{"id": info.ID}, nil, &stopped); err != nil {
		t.Fatal(err)
	}
	if stopped.State != loadgen.StateStopped || stopped.EndedAt == nil || stopped.Stats.DatapointsSent == 0 {
		t.Fatalf("stop answered %+v", stopped)
	}
	// Stopping again is harmless and answers the same final state.
	var again loadgen.SimulationInfo
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), teamA, map[string]string{"id": info.ID}, nil, &again); err != nil || again.State != loadgen.StateStopped {
		t.Fatalf("second stop: %v %+v", err, again)
	}
}

func TestRunsToCompletion(t *testing.T) {
	e := newEnv(t, nil)
	info, err := e.start(teamA, loadgen.StartRequest{Profile: "process-churn", Hosts: 1, Target: e.sink.URL, Duration: "400ms", Interval: "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err := e.get(teamA, info.ID)
		return err == nil && got.State == loadgen.StateCompleted
	}, "simulation completes after its duration")
	got, _ := e.get(teamA, info.ID)
	// Real clock: a scrape may be skipped on a loaded machine, never queued.
	if n := got.Stats.Scrapes + got.Stats.SkippedScrapes; n != 4 || got.Stats.Scrapes == 0 || got.Seed == 0 {
		t.Errorf("completed with %d scrapes + %d skipped (want 4 in 400ms at 100ms) and seed %d (want a drawn seed)",
			got.Stats.Scrapes, got.Stats.SkippedScrapes, got.Seed)
	}
}

func TestTargetNotAllowed(t *testing.T) {
	e := newEnv(t, nil)
	for _, target := range []string{"http://10.1.2.3:4318", "https://ingest.example.com", "grpc://127.0.0.1:9999"} {
		_, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: target, Duration: "1m"})
		if statusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), "not allowed") || !strings.Contains(err.Error(), "--loadsim-allowed-targets") {
			t.Errorf("target %s: %v, want 403 naming the allowlist flag", target, err)
		}
	}
	// The default allowlist ("self") admits this Phoenix's ingest and the dev collector.
	for _, target := range []string{"http://127.0.0.1:4318", "grpc://localhost:4317", "http://127.0.0.1:14318/v1/metrics", "grpc://127.0.0.1:14317"} {
		info, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: target, Duration: "1m", Interval: "1h"})
		if err != nil {
			t.Errorf("target %s refused: %v", target, err)
			continue
		}
		if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), teamA, map[string]string{"id": info.ID}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartValidation(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		req   loadgen.StartRequest
		paths []string
	}{
		{loadgen.StartRequest{Profile: "nope", Hosts: 0, Target: "ftp://x", Duration: "forever"}, []string{"profile", "hosts", "target", "duration"}},
		{loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL}, []string{"duration"}},
		{loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "48h"}, []string{"duration"}},
		{loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1m", Interval: "10ms"}, []string{"interval"}},
		{loadgen.StartRequest{Profile: "spike", Hosts: 10, Target: e.sink.URL, Duration: "1m"}, []string{"hosts"}}, // 10 x 1500 > 10000
		{loadgen.StartRequest{Profile: "custom", Hosts: 1, Target: e.sink.URL, Duration: "1m"}, []string{"profile_yaml"}},
		{loadgen.StartRequest{Profile: "custom", ProfileYAML: "processes:\n  - {name: a, count: 1, cpu: wobbly, memory: steady}\n", Hosts: 1, Target: e.sink.URL, Duration: "1m"}, []string{"profile_yaml"}},
	}
	for _, tc := range tests {
		_, err := e.start(teamA, tc.req)
		var p *problem.Error
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
			t.Errorf("%+v: %v, want 400", tc.req, err)
			continue
		}
		var paths []string
		for _, f := range p.Errors {
			paths = append(paths, f.Path)
		}
		for _, want := range tc.paths {
			if !slices.Contains(paths, want) {
				t.Errorf("%+v: errors %v lack %s", tc.req, p.Errors, want)
			}
		}
	}
	// Unknown fields are refused (strict body).
	_, err := e.call(apiv1.Subject(config.ServiceLoadsim, "startLoadsim"), teamA, nil, map[string]any{"profile": "realistic", "hosts": 1, "target": e.sink.URL, "duration": "1m", "owner": "x"}, nil)
	if statusOf(err) != http.StatusBadRequest {
		t.Errorf("unknown field: %v, want 400", err)
	}
	// A custom profile that validates runs.
	info, err := e.start(teamA, loadgen.StartRequest{Profile: "custom", ProfileYAML: "name: mine\nprocesses:\n  - {name: a, count: 3, cpu: spiky, memory: growing}\n", Hosts: 1, Target: e.sink.URL, Duration: "1m", Interval: "1h"})
	if err != nil || info.Profile != "mine" {
		t.Fatalf("custom: %v %+v", err, info)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	e := newEnv(t, func(s *manager.Settings) { s.MaxConcurrent = 2 })
	req := loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1h", Interval: "1h"}
	a, err := e.start(teamA, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.start(teamB, req); err != nil {
		t.Fatal(err)
	}
	if _, err := e.start(teamA, req); statusOf(err) != http.StatusConflict {
		// Say why a slot was free: a simulation that ended early names its error.
		var list struct {
			Items []loadgen.SimulationInfo `json:"items"`
		}
		_, _ = e.call(apiv1.Subject(config.ServiceLoadsim, "listLoadsim"), admin, nil, nil, &list)
		for _, s := range list.Items {
			t.Logf("simulation %s: state %s error %q", s.ID, s.State, s.Error)
		}
		t.Fatalf("third simulation: %v, want 409", err)
	}
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), teamA, map[string]string{"id": a.ID}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.start(teamA, req); err != nil {
		t.Fatalf("after a stop, a new simulation is refused: %v", err)
	}
}

func TestTeamIsolation(t *testing.T) {
	e := newEnv(t, nil)
	b, err := e.start(teamB, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1h", Interval: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.get(teamA, b.ID); statusOf(err) != http.StatusNotFound || strings.Contains(err.Error(), "team-b") {
		t.Errorf("team A GET on team B's simulation: %v, want a 404 that does not name the team", err)
	}
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), teamA, map[string]string{"id": b.ID}, nil, nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("team A DELETE on team B's simulation: %v, want 404", err)
	}
	if got, err := e.get(teamB, b.ID); err != nil || got.State != loadgen.StateRunning {
		t.Errorf("team B lost its simulation: %v %+v", err, got)
	}
	var list apiv1.List[loadgen.SimulationInfo]
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "listLoadsim"), teamA, nil, nil, &list); err != nil || len(list.Items) != 0 {
		t.Errorf("team A lists %+v (%v), want nothing", list.Items, err)
	}
	if _, err := e.call(apiv1.Subject(config.ServiceLoadsim, "listLoadsim"), admin, nil, nil, &list); err != nil || len(list.Items) != 1 {
		t.Errorf("admin lists %+v (%v), want team B's", list.Items, err)
	}
	if _, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1m", Team: "team-b"}); statusOf(err) != http.StatusForbidden {
		t.Errorf("team A starting for team B: %v, want 403", err)
	}
}

func TestListPages(t *testing.T) {
	e := newEnv(t, nil)
	for range 3 {
		if _, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1h", Interval: "1h"}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for {
		req := apiv1.Request{Principal: teamA, Query: map[string][]string{"limit": {"2"}}}
		if cursor != "" {
			req.Query["cursor"] = []string{cursor}
		}
		var page apiv1.List[loadgen.SimulationInfo]
		if err := e.bus.Request(context.Background(), apiv1.Subject(config.ServiceLoadsim, "listLoadsim"), req, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 3 {
		t.Fatalf("pages gave %v, want 3 simulations", seen)
	}
}

func TestShutdownStopsSimulations(t *testing.T) {
	e := newEnv(t, nil)
	info, err := e.start(teamA, loadgen.StartRequest{Profile: "realistic", Hosts: 1, Target: e.sink.URL, Duration: "1h", Interval: "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.svc.m.Running(); n != 0 {
		t.Fatalf("%d simulations still running after shutdown", n)
	}
	if _, err := e.svc.m.Get(teamA, info.ID); err != nil {
		t.Fatal(err)
	}
	// goleak in TestMain checks the run goroutines are gone.
}

func TestAllowedTargetsConfig(t *testing.T) {
	cfg := config.DefaultServer()
	ConfigFrom(&cfg).AllowedTargets = []string{"self", "https://otel.example.com:4318"}
	keys, err := AllowedTargets(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http://127.0.0.1:4318", "grpc://127.0.0.1:4317", "http://127.0.0.1:14318", "grpc://127.0.0.1:14317", "https://otel.example.com:4318", "http://[::1]:4318"} {
		if !slices.Contains(keys, want) {
			t.Errorf("allowed %v lacks %s", keys, want)
		}
	}
	ConfigFrom(&cfg).AllowedTargets = []string{"grpc://nohost"}
	if _, err := AllowedTargets(&cfg); err == nil {
		t.Error("a gRPC target without a port was accepted")
	}
}
