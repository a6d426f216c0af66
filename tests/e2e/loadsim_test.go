package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/loadsim"
)

// TestLoadsimChurnMeasuredInAnalytics starts a process-churn simulation on
// the loadsim service (as POST /api/v1/loadsim does) against analytics'
// own OTLP/HTTP ingest, waits past the first minute so the initial series
// leave the window, and checks what analytics measures: new series per
// minute within 30% of what the profile's lifetimes imply (processes per
// minute x hosts x 9 series per process), and process.cpu.time broken down
// by process.executable.name (resource) and state (datapoint). It runs in
// real time (about 75 s).
func TestLoadsimChurnMeasuredInAnalytics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 75 s of real time")
	}
	const hosts = 2
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceLoadsim)
	cfg.Auth.IngestOpen = true
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.Start(context.Background(), cfg, logger, []service.Registration{
		analytics.Registration(), loadsim.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	bus := a.Settings.Bus

	body, _ := json.Marshal(loadgen.StartRequest{
		Profile: loadgen.ProfileProcessChurn, Hosts: hosts, Target: "http://" + cfg.Analytics.OTLPHTTPAddr,
		Duration: "3m", Interval: "2s", Seed: new(int64(11)),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, raw, err := bus.RequestRaw(ctx, apiv1.Subject(config.ServiceLoadsim, "startLoadsim"), apiv1.Request{Principal: admin, Body: body})
	if err != nil || status != 201 {
		t.Fatalf("start: %d %v %s", status, err, raw)
	}
	var sim loadgen.SimulationInfo
	if err := json.Unmarshal(raw, &sim); err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	var rep apiv1.CardinalityReport
	testutil.Eventually(t, 150*time.Second, func() bool {
		if time.Since(started) < 75*time.Second {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := bus.Request(ctx, apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: apiv1.DefaultStream, TopValues: 50}, &rep)
		return err == nil && rep.NewSeriesPerMin != nil
	}, "analytics measures new series per minute after the first minute")

	p, _ := loadgen.Builtin(loadgen.ProfileProcessChurn)
	want := p.ChurnPerMinute() * hosts * 9
	got := *rep.NewSeriesPerMin
	t.Logf("analytics: %.0f new series/min (lifetimes imply %.0f), %d active series", got, want, rep.ActiveSeries)
	if got < 0.7*want || got > 1.3*want {
		t.Errorf("new series per minute = %.0f, want %.0f +-30%%", got, want)
	}

	var cpu *apiv1.MetricCardinality
	for i := range rep.Metrics {
		if rep.Metrics[i].Name == loadgen.MetricCPUTime {
			cpu = &rep.Metrics[i]
		}
	}
	if cpu == nil {
		t.Fatalf("no %s in the inventory: %+v", loadgen.MetricCPUTime, rep.Metrics)
	}
	scopes := map[string]apiv1.LabelCardinality{}
	for _, l := range cpu.Labels {
		scopes[l.Name] = l
	}
	if l := scopes["process.executable.name"]; l.Scope != apiv1.ScopeResource || l.DistinctValues < 5 {
		t.Errorf("process.executable.name on %s: %+v, want a resource label with >= 5 values", loadgen.MetricCPUTime, l)
	}
	if l := scopes["state"]; l.Scope != apiv1.ScopeDatapoint || l.DistinctValues != 3 {
		t.Errorf("state on %s: %+v, want a datapoint label with 3 values", loadgen.MetricCPUTime, l)
	}
	if l := scopes["host.name"]; l.DistinctValues != hosts {
		t.Errorf("host.name: %d values, want %d", l.DistinctValues, hosts)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	var stopped loadgen.SimulationInfo
	if err := bus.Request(ctx2, apiv1.Subject(config.ServiceLoadsim, "stopLoadsim"), apiv1.Request{Principal: admin, Params: map[string]string{"id": sim.ID}}, &stopped); err != nil {
		t.Fatal(err)
	}
	if stopped.State != loadgen.StateStopped || stopped.Stats.DatapointsFailed != 0 || stopped.Stats.DatapointsSent == 0 {
		t.Errorf("stopped simulation: %+v", stopped)
	}
}
