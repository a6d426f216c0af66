package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/controller"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

// TestAdaptiveControl drives /api/v1/adaptive through the real gateway with
// analytics measuring real OTLP traffic (and a stand-in for the generator's
// pipeline versions): roles and validation; then a
// shadow policy and an apply policy on the same stream both switch from
// conservative to balanced, the shadow one recording its decision without
// a rollout and the apply one creating a rollout of the mode's pipeline.
func TestAdaptiveControl(t *testing.T) {
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", expAdminPassword)
	cfg := newConfig(t, config.ServicePlatformAPI, config.ServiceController, config.ServiceAnalytics)
	cfg.Auth.BootstrapAdminPassword = expAdminPassword
	cfg.Auth.IngestOpen = true
	controller.ConfigFrom(cfg).AdaptiveInterval = time.Second
	analytics.ConfigFrom(cfg).RollupInterval = 3 * time.Second
	a, err := app.Start(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), []service.Registration{
		platformapi.Registration(), controller.Registration(), analytics.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	s := &apiServer{t: t, base: "http://" + cfg.API.Addr}
	admin := s.login("admin", expAdminPassword)
	viewer := s.user(admin, "vera", "viewer", "red")
	operator := s.user(admin, "otto", "operator", "red")
	outsider := s.user(admin, "olga", "operator", "blue")

	// The generator's pipeline versions, answered as it answers them (the
	// real generator needs a built phoenix-collector to store one).
	pl := apiv1.PipelineVersion{PipelineID: "pl-edge", Name: "edge", Version: 1, Team: "red", Config: "receivers: {}\n"}
	pipelineVersions(t, a.Settings.Bus, pl)
	policy := func(action string) apiv1.AdaptivePolicySpec {
		return apiv1.AdaptivePolicySpec{Selector: map[string]string{"env": "nowhere"}, Stream: apiv1.DefaultStream, Action: action,
			MinDwell: "1s", Modes: []apiv1.AdaptiveMode{
				{Name: "conservative", PipelineID: pl.PipelineID, PipelineVersion: 1, UpTo: 100},
				{Name: "balanced", PipelineID: pl.PipelineID, PipelineVersion: 1, UpTo: 100_000},
				{Name: "aggressive", PipelineID: pl.PipelineID, PipelineVersion: 1},
			}}
	}

	for _, c := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no credentials", "GET", "/api/v1/adaptive/policies", "", nil, 401},
		{"viewer creates", "POST", "/api/v1/adaptive/policies", viewer, policy("shadow"), 403},
		{"unknown field", "POST", "/api/v1/adaptive/policies", operator, map[string]any{"stream": "x", "modes": []any{}, "selector": map[string]string{}, "mode": "x"}, 400},
		{"unknown action", "POST", "/api/v1/adaptive/policies", operator, func() any { p := policy("sometimes"); return p }(), 400},
		{"viewer deletes", "DELETE", "/api/v1/adaptive/policies/ap-1", viewer, nil, 403},
		{"viewer lists decisions", "GET", "/api/v1/adaptive/decisions?policy=ap-1", viewer, nil, 200},
	} {
		if r := s.do(c.method, c.path, c.token, c.body); r.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.want, r.Body)
		}
	}
	// The controller's checks come back as one 400 naming every field.
	bad := policy("apply")
	bad.Modes[1].UpTo, bad.MinDwell = 50, "soon"
	var p problem.Error
	s.must(400, s.do("POST", "/api/v1/adaptive/policies", operator, bad), &p)
	paths := map[string]bool{}
	for _, fe := range p.Errors {
		paths[fe.Path] = true
	}
	if !paths["modes[1].up_to"] || !paths["min_dwell"] {
		t.Errorf("bad policy errors: %+v", p.Errors)
	}

	var shadow, apply apiv1.AdaptivePolicy
	s.must(201, s.do("POST", "/api/v1/adaptive/policies", operator, policy("shadow")), &shadow)
	s.must(201, s.do("POST", "/api/v1/adaptive/policies", operator, policy("apply")), &apply)
	if shadow.Team != "red" || shadow.Version != 1 || shadow.Mode != "" || shadow.CreatedBy != "otto" {
		t.Fatalf("created: %+v", shadow)
	}
	if r := s.do("GET", "/api/v1/adaptive/policies/"+apply.ID, outsider, nil); r.Status != 404 {
		t.Errorf("another team's policy: %d, want 404", r.Status)
	}
	var list apiv1.List[apiv1.AdaptivePolicy]
	s.must(200, s.do("GET", "/api/v1/adaptive/policies", outsider, nil), &list)
	if len(list.Items) != 0 {
		t.Errorf("another team lists %d policies", len(list.Items))
	}

	// 200 series on the default stream: above conservative's 100 by more
	// than the 10% hysteresis.
	target, err := loadgen.ParseTarget("http://"+cfg.Analytics.OTLPHTTPAddr, "")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := loadgen.NewExporter(target, loadgen.ExporterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	decisions := func(policyID string) []apiv1.AdaptiveDecision {
		var l apiv1.List[apiv1.AdaptiveDecision]
		s.must(200, s.do("GET", "/api/v1/adaptive/decisions?policy="+policyID, viewer, nil), &l)
		return l.Items
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rejected, err := exp.Export(ctx, httpRequests(time.Now(), 0, 0)); err != nil || rejected != 0 {
			t.Fatalf("export: %d rejected, %v", rejected, err)
		}
		return len(decisions(shadow.ID)) > 0 && len(decisions(apply.ID)) > 0
	}, "no adaptive decisions within 30 s")

	sd, ad := decisions(shadow.ID), decisions(apply.ID)
	if d := sd[0]; len(sd) != 1 || !d.Shadow || d.Applied || d.RolloutID != "" || d.From != "conservative" || d.To != "balanced" ||
		d.ActiveSeries < 200 {
		t.Errorf("shadow decisions: %+v", sd)
	}
	if d := ad[0]; len(ad) != 1 || d.Shadow || !d.Applied || d.RolloutID == "" || d.To != "balanced" || d.Team != "red" {
		t.Fatalf("apply decisions: %+v", ad)
	}
	var ros apiv1.List[apiv1.Rollout]
	s.must(200, s.do("GET", "/api/v1/rollouts", viewer, nil), &ros)
	if len(ros.Items) != 1 {
		t.Fatalf("%d rollouts, want 1 (the apply policy's; shadow creates none): %+v", len(ros.Items), ros.Items)
	}
	if r := ros.Items[0]; r.ID != ad[0].RolloutID || r.PipelineID != pl.PipelineID || r.CreatedBy != "adaptive" || r.Selector["env"] != "nowhere" {
		t.Errorf("rollout %+v", r)
	}
	var got apiv1.AdaptivePolicy
	s.must(200, s.do("GET", "/api/v1/adaptive/policies/"+apply.ID, viewer, nil), &got)
	if got.Mode != "balanced" || got.ModeSince == nil {
		t.Errorf("mode after the switch: %q since %v", got.Mode, got.ModeSince)
	}

	// Turning the apply policy off and deleting the shadow one.
	off := policy("off")
	s.must(200, s.do("PUT", "/api/v1/adaptive/policies/"+apply.ID+"?version=1", operator, off), &got)
	if got.Version != 2 || got.Action != "off" || got.Mode != "balanced" {
		t.Errorf("updated: %+v", got)
	}
	if r := s.do("PUT", "/api/v1/adaptive/policies/"+apply.ID+"?version=1", operator, off); r.Status != 409 {
		t.Errorf("stale update: %d, want 409", r.Status)
	}
	s.must(204, s.do("DELETE", "/api/v1/adaptive/policies/"+shadow.ID, operator, nil), nil)
	if n := len(decisions(shadow.ID)); n != 0 {
		t.Errorf("a deleted policy keeps %d decisions", n)
	}
}

// pipelineVersions answers apiv1.SubjectPipelineVersion from pvs as the
// generator does: the latest for version 0, 404 for an unknown one.
func pipelineVersions(t *testing.T, bus *messaging.Bus, pvs ...apiv1.PipelineVersion) {
	t.Helper()
	svc, err := bus.AddService(messaging.ServiceConfig{Name: "fake-generator", Version: "0.0.1", Endpoints: []messaging.Endpoint{
		{Name: "pipeline-version", Subject: apiv1.SubjectPipelineVersion, Handler: func(_ context.Context, data []byte) (any, error) {
			var req apiv1.PipelineVersionRequest
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, err
			}
			for _, pv := range pvs {
				if pv.PipelineID == req.PipelineID && (req.Version == 0 || req.Version == pv.Version) {
					return pv, nil
				}
			}
			return nil, problem.NotFound("pipeline %s version %d not found", req.PipelineID, req.Version)
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
}
