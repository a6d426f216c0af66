package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
)

// TestGeneratorPipelineDeployedByController: a pipeline stored by the
// generator (the conservative preset on this host's own processes) is
// deployed by the controller through the pipeline-version contract to a
// real agent running the real phoenix-collector, which applies it, reports
// healthy, and sends analytics series without process.pid.
func TestGeneratorPipelineDeployedByController(t *testing.T) {
	bin := realCollector(t)
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceController, config.ServiceGenerator)
	generator.ConfigFrom(cfg).CollectorBin = bin
	cfg.Auth.IngestOpen = true
	a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), []service.Registration{
		analytics.Registration(), generator.Registration(), controller.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{cfg: cfg, app: a}
	t.Cleanup(cp.stop)
	ag := startAgent(t, cp.opampURL(), bin, t.TempDir(), "")
	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := cp.agent(t, ag.ID())
		return ok && v.Connected
	}, "agent never enrolled")

	gen := pipelinegen.Request{
		Template: "conservative", Set: map[string]string{"interval": "1s"},
		Source:        pipelinegen.Source{CollectionInterval: "1s"},
		TelemetryAddr: testutil.FreeAddr(t), HealthAddr: testutil.FreeAddr(t),
		Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://" + cfg.Analytics.OTLPHTTPAddr}},
	}
	status, body, err := cp.call(t, apiv1.Subject(config.ServiceGenerator, "createPipeline"), admin, nil, map[string]any{
		"name": "host-processes", "reason": "e2e", "generate": gen,
	})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create pipeline: %d %v %s", status, err, body)
	}
	var p struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		Config  string `json:"config"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}

	d := cp.push(t, ag.ID(), map[string]any{"pipeline_id": p.ID, "version": 0, "reason": "roll out conservative"})
	testutil.Eventually(t, 60*time.Second, func() bool {
		v, _ := cp.agent(t, ag.ID())
		return v.EffectiveConfigHash == d.ConfigHash && v.RemoteConfigStatus == "applied" && v.Healthy != nil && *v.Healthy
	}, "pipeline %s never applied and healthy", p.ID)
	if v, _ := cp.agent(t, ag.ID()); v.EffectiveConfig != p.Config {
		t.Fatalf("the agent runs a different config than the stored version")
	}

	// This host's processes arrive, aggregated per executable.
	var rep apiv1.CardinalityReport
	testutil.Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Settings.Bus.Request(ctx, apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: apiv1.DefaultStream}, &rep); err != nil {
			return false
		}
		for _, m := range rep.Metrics {
			if m.Name == "process.cpu.time" && m.Series > 0 {
				return true
			}
		}
		return false
	}, "no process.cpu.time in analytics")
	for _, m := range rep.Metrics {
		for _, l := range m.Labels {
			if slices.Contains([]string{"process.pid", "process.parent_pid", "process.command_line"}, l.Name) {
				t.Errorf("%s still carries %s after the conservative pipeline", m.Name, l.Name)
			}
		}
	}
}
