package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
)

// TestGuardCatchesLoadsimSpike runs loadsim's spike profile (its first
// burst brought forward to 12 s, at 50x the processes) against real
// analytics and the anomaly detector: within two rollup windows of the
// burst, one explosion alert names a process metric and a per-process label.
func TestGuardCatchesLoadsimSpike(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 30 s of real time")
	}
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceAnomalyDetector)
	cfg.Auth.IngestOpen = true
	analytics.ConfigFrom(cfg).RollupInterval = 3 * time.Second
	anomalydetector.ConfigFrom(cfg).BreakdownEvery = 2
	a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), []service.Registration{
		analytics.Registration(), anomalydetector.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	det := a.Service(config.ServiceAnomalyDetector).(*anomalydetector.Service)

	prof, err := loadgen.Builtin(loadgen.ProfileSpike)
	if err != nil {
		t.Fatal(err)
	}
	prof.Spike.Offset, prof.Spike.MinFactor, prof.Spike.MaxFactor = 12*time.Second, 50, 50
	sim, err := loadgen.New(loadgen.Config{Profile: prof, Hosts: 2, Seed: 16, Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	target, err := loadgen.ParseTarget("http://"+cfg.Analytics.OTLPHTTPAddr, "")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := loadgen.NewExporter(target, loadgen.ExporterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	run, err := loadgen.NewRunner(sim, exp, loadgen.RunConfig{Interval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _, _ = run.Run(ctx) }()
	defer func() { cancel(); <-done }()

	alerts := func() []apiv1.Alert {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		_, raw, err := a.Settings.Bus.RequestRaw(rctx, apiv1.Subject(config.ServiceAnomalyDetector, "listAlerts"),
			apiv1.Request{Principal: admin, Query: url.Values{"stream": {apiv1.DefaultStream}}})
		if err != nil {
			t.Fatalf("list alerts: %v", err)
		}
		var l apiv1.List[apiv1.Alert]
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	points := func() int64 { return det.Points(apiv1.DefaultStream, "active_series") }

	// Before the burst: steady hosts, no alert.
	var steady int64
	for deadline := time.Now().Add(20 * time.Second); ; {
		st := run.Stats()
		if steady == 0 && st.ActiveProcesses > 0 {
			steady = st.ActiveProcesses
		}
		if steady > 0 && st.ActiveProcesses > 5*steady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no burst within 20 s (%d processes, steady %d)", st.ActiveProcesses, steady)
		}
		time.Sleep(100 * time.Millisecond) // polling the runner
	}
	if points() < 2 {
		t.Fatalf("only %d rollups before the burst", points())
	}
	if got := alerts(); len(got) != 0 {
		t.Fatalf("steady load raised %+v", got)
	}
	before := points()
	var fired []apiv1.Alert
	for deadline := time.Now().Add(30 * time.Second); len(fired) == 0; fired = alerts() {
		if time.Now().After(deadline) {
			t.Fatalf("no alert within 30 s of the burst (%d rollups)", points()-before)
		}
		time.Sleep(200 * time.Millisecond) // polling the detector
	}
	windows := points() - before
	a0 := fired[0]
	t.Logf("alert after %d rollups: %s", windows, a0.Summary)
	if windows > 3 {
		t.Errorf("alert after %d rollup windows, want at most 2 (+1 in flight)", windows)
	}
	perProcess := map[string]bool{"process.pid": true, "process.command_line": true}
	if a0.Rule != apiv1.RuleExplosion || a0.Metric == "" || !perProcess[a0.Label] {
		t.Fatalf("alert %+v: want an explosion naming a process metric and a per-process label", a0)
	}
}
