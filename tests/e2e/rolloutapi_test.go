package e2e

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/controller"
	"github.com/phoenix-platform/phoenix/projects/generator"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

// TestRolloutAPI drives /api/v1/rollouts through the real gateway, with
// the generator answering the pipeline versions: roles, validation, team
// isolation, and a rollout the runner finishes (no agent matches).
func TestRolloutAPI(t *testing.T) {
	bin := realCollector(t) // the generator validates the stored pipeline with it
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", expAdminPassword)
	cfg := newConfig(t, config.ServicePlatformAPI, config.ServiceController, config.ServiceGenerator)
	generator.ConfigFrom(cfg).CollectorBin = bin
	cfg.Auth.BootstrapAdminPassword = expAdminPassword
	a, err := app.Start(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), []service.Registration{
		platformapi.Registration(), controller.Registration(), generator.Registration(),
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

	var pl struct {
		ID string `json:"id"`
	}
	s.must(201, s.do("POST", "/api/v1/pipelines", operator, map[string]any{"name": "edge", "reason": "e2e",
		"generate": map[string]any{"template": "balanced",
			"target": map[string]any{"exporter": map[string]any{"type": "otlphttp", "endpoint": "http://127.0.0.1:4318"}}}}), &pl)
	body := map[string]any{"pipeline_id": pl.ID, "selector": map[string]string{"env": "nowhere"},
		"strategy": "staged", "steps": []int{50, 100}, "pause": "1s"}

	for _, c := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no credentials", "GET", "/api/v1/rollouts", "", nil, 401},
		{"viewer creates", "POST", "/api/v1/rollouts", viewer, body, 403},
		{"viewer aborts", "POST", "/api/v1/rollouts/ro-0000000000000001/abort", viewer, nil, 403},
		{"unknown field", "POST", "/api/v1/rollouts", operator, map[string]any{"pipeline_id": pl.ID, "selector": map[string]string{"a": "b"}, "agents": 1}, 400},
		{"unknown strategy", "POST", "/api/v1/rollouts", operator, map[string]any{"pipeline_id": pl.ID, "selector": map[string]string{"a": "b"}, "strategy": "canary"}, 400},
		{"another team's pipeline", "POST", "/api/v1/rollouts", outsider, body, 404},
		{"bad limit", "GET", "/api/v1/rollouts?limit=0", viewer, nil, 400},
	} {
		if r := s.do(c.method, c.path, c.token, c.body); r.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.want, r.Body)
		}
	}
	// The controller's checks come back as one 400 naming the fields.
	var p problem.Error
	s.must(400, s.do("POST", "/api/v1/rollouts", operator, map[string]any{"pipeline_id": pl.ID,
		"selector": map[string]string{"a": "b"}, "strategy": "staged", "steps": []int{50, 10}}), &p)
	if len(p.Errors) == 0 || p.Errors[0].Path != "spec.rollout.steps[1]" {
		t.Errorf("steps not rising: %+v", p.Errors)
	}

	var ro apiv1.Rollout
	s.must(201, s.do("POST", "/api/v1/rollouts", operator, body), &ro)
	if ro.Team != "red" || ro.PipelineID != pl.ID || ro.PipelineVersion != 1 || ro.Strategy != "staged" || ro.Pause != "1s" ||
		ro.CreatedBy != "otto" {
		t.Fatalf("created: %+v", ro)
	}
	id := "/api/v1/rollouts/" + ro.ID
	for _, c := range []struct{ method, path string }{{"GET", id}, {"POST", id + "/abort"}} {
		if r := s.do(c.method, c.path, outsider, nil); r.Status != 404 || strings.Contains(string(r.Body), pl.ID) {
			t.Errorf("%s %s as another team: %d, want 404: %s", c.method, c.path, r.Status, r.Body)
		}
	}
	var list apiv1.List[apiv1.Rollout]
	s.must(200, s.do("GET", "/api/v1/rollouts", outsider, nil), &list)
	if len(list.Items) != 0 {
		t.Errorf("another team lists %d rollouts", len(list.Items))
	}
	s.must(200, s.do("GET", "/api/v1/rollouts?limit=1", viewer, nil), &list)
	if len(list.Items) != 1 || list.Items[0].ID != ro.ID {
		t.Errorf("the team lists %+v", list.Items)
	}

	// No agent matches, so the runner finishes it; then abort is 409.
	testutil.Eventually(t, 30*time.Second, func() bool {
		var now apiv1.Rollout
		s.must(200, s.do("GET", id, viewer, nil), &now)
		return now.State == apiv1.RolloutSucceeded && strings.Contains(now.Reason, "no agent")
	}, "rollout %s never succeeded", ro.ID)
	if r := s.do("POST", id+"/abort", operator, nil); r.Status != 409 || !strings.Contains(string(r.Body), "succeeded") {
		t.Errorf("abort a finished rollout: %d %s", r.Status, r.Body)
	}
}
