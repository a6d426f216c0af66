package manager

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
)

// startIngest runs the analytics service (Phoenix's OTLP ingest) with
// authentication on, as `phoenix server` does; it returns the OTLP/HTTP URL.
func startIngest(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := messaging.Connect(ctx, messaging.Settings{DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "a.db"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := config.DefaultServer()
	cfg.Analytics.OTLPHTTPAddr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPGRPCAddr = testutil.FreeAddr(t)
	cfg.Auth.IngestOpen = false
	svc, err := analytics.New(service.Settings{Config: &cfg, Logger: logger, Bus: bus, Store: db, Metrics: telemetry.NewMetrics(), Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return "http://" + cfg.Analytics.OTLPHTTPAddr
}

// TestRunAgainstIngestAnswering401 (issue 14): a server-run simulation
// whose every datapoint the ingest refuses with 401 ends failed, its error
// naming the 401 and the count; it used to end "completed", error null,
// because three failed requests are fewer than ErrTargetFailing needs.
func TestRunAgainstIngestAnswering401(t *testing.T) {
	url := startIngest(t)
	target, err := loadgen.ParseTarget(url, "")
	if err != nil {
		t.Fatal(err)
	}
	m := New(Settings{Allowed: []string{target.Key()}, MaxConcurrent: 1, MaxDuration: time.Hour, MaxProcesses: 10000,
		Logger: slog.New(slog.DiscardHandler), MinInterval: 100 * time.Millisecond})
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	p := apiv1.Principal{Subject: "alice", Kind: "user", Role: "operator", Teams: []string{"team-a"}}
	info, err := m.Start(p, loadgen.StartRequest{Profile: loadgen.ProfileRealistic, Hosts: 1, Target: url,
		Duration: "1500ms", Interval: "500ms"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		info, err = m.Get(p, info.ID)
		return err == nil && info.State != loadgen.StateRunning
	}, "simulation still running")
	if info.State != loadgen.StateFailed {
		t.Errorf("state %q, want failed", info.State)
	}
	if info.Stats.DatapointsSent != 0 || info.Stats.DatapointsFailed == 0 || info.Stats.RequestsFailed >= loadgen.DefaultMaxConsecFail {
		t.Fatalf("stats %+v: want a few requests, all refused", info.Stats)
	}
	count := strings.Contains(info.Error, " of ") && strings.Contains(info.Error, "datapoints failed")
	if !strings.Contains(info.Error, "401") || !count {
		t.Errorf("error %q: want the 401 and the count", info.Error)
	}
}
