package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/controller"
)

// fakePlatform answers the subjects the controller calls: authentication
// (platform-api's contract) and pipeline versions (the generator's).
func fakePlatform(t *testing.T, bus *messaging.Bus, keys map[string]apiv1.Principal, pipelines map[string]apiv1.PipelineVersion) {
	t.Helper()
	svc, err := bus.AddService(messaging.ServiceConfig{Name: "fake-platform", Version: "0.0.1", Endpoints: []messaging.Endpoint{
		{Name: "authenticate", Subject: apiv1.SubjectAuthenticate, Handler: func(_ context.Context, data []byte) (any, error) {
			var req apiv1.AuthenticateRequest
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, err
			}
			p, ok := keys[req.Token]
			if !ok || req.Scope != "agent" {
				return nil, problem.Unauthorized("invalid token")
			}
			return p, nil
		}},
		{Name: "pipeline-version", Subject: apiv1.SubjectPipelineVersion, Handler: func(_ context.Context, data []byte) (any, error) {
			var req apiv1.PipelineVersionRequest
			if err := json.Unmarshal(data, &req); err != nil {
				return nil, err
			}
			pv, ok := pipelines[req.PipelineID]
			if !ok || req.Version != 0 && req.Version != pv.Version {
				return nil, problem.NotFound("pipeline %s version %d not found", req.PipelineID, req.Version)
			}
			return pv, nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
}

// metricValue reads a counter or gauge (with one label value, or none) from
// the control plane's registry.
func metricValue(t *testing.T, cp *controlPlane, name, label string) float64 {
	t.Helper()
	mfs, err := cp.app.Settings.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// agentEvents lists the types of the agent's events on PHOENIX_EVENTS.
func agentEvents(t *testing.T, bus *messaging.Bus, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := bus.JS.OrderedConsumer(ctx, messaging.EventStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messaging.EventSubject(messaging.KindAgent, id)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		msgs, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			var ev messaging.Event
			if err := json.Unmarshal(m.Data(), &ev); err == nil {
				out = append(out, ev.Type)
			}
		}
		if n == 0 {
			return out
		}
	}
}

// TestFleetAuthAndPipelines runs the OpAMP server closed (tokens checked
// over NATS with scope agent), enrols an agent with a team-bound key, and
// deploys a stored pipeline version.
func TestFleetAuthAndPipelines(t *testing.T) {
	bin := fakeCollector(t)
	cfg := newConfig(t, "controller")
	controller.ConfigFrom(cfg).OpAMPOpen = false
	cp := start(t, cfg)
	bus := cp.app.Settings.Bus
	healthAddr := testutil.FreeAddr(t)
	fakePlatform(t, bus,
		map[string]apiv1.Principal{"phx_good": {Subject: "key-1", Kind: "api_key", Role: "operator", Teams: []string{"payments"}, Scopes: []string{"agent"}}},
		map[string]apiv1.PipelineVersion{
			"pl-pay":   {PipelineID: "pl-pay", Name: "payments", Version: 3, Team: "payments", Config: fakeConfig("", healthAddr), CreatedBy: "gen"},
			"pl-other": {PipelineID: "pl-other", Name: "other", Version: 1, Team: "search", Config: fakeConfig("", healthAddr), CreatedBy: "gen"},
		})

	t.Run("connections without a valid token are refused", func(t *testing.T) {
		for name, hdr := range map[string]string{"none": "", "bad": "Bearer phx_bad"} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+cfg.Controller.OpAMPAddr+"/v1/opamp", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if hdr != "" {
				req.Header.Set("Authorization", hdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s token: %d, want 401", name, resp.StatusCode)
			}
		}
		if n := metricValue(t, cp, "phoenix_opamp_refused_connections_total", "unauthorized"); n != 2 {
			t.Errorf("refused connections counted %v, want 2", n)
		}
	})

	ag := startAgent(t, cp.opampURL(), bin, t.TempDir(), "phx_good")
	id := ag.ID()
	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := cp.agent(t, id)
		return ok && v.Connected && v.Team == "payments"
	}, "agent with a team key never enrolled into its key's team")
	if n := metricValue(t, cp, "phoenix_opamp_connections", ""); n != 1 {
		t.Errorf("open connections gauge = %v, want 1", n)
	}

	payOp := apiv1.Principal{Subject: "pat", Kind: "user", Role: "operator", Teams: []string{"payments"}}
	t.Run("pipeline version of the agent's team", func(t *testing.T) {
		status, b, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), payOp, map[string]string{"id": id},
			map[string]any{"pipeline_id": "pl-pay", "version": 3, "reason": "roll out v3"})
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("push pipeline: %d %v", status, err)
		}
		var d struct {
			deploymentView
			PipelineID      string `json:"pipeline_id"`
			PipelineVersion int    `json:"pipeline_version"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind != "pipeline" || d.PipelineID != "pl-pay" || d.PipelineVersion != 3 || d.CreatedBy != "pat" || !d.Delivered {
			t.Fatalf("deployment: %s", b)
		}
		testutil.Eventually(t, 20*time.Second, func() bool {
			v, _ := cp.agent(t, id)
			return v.EffectiveConfigHash == d.ConfigHash && v.Healthy != nil && *v.Healthy
		}, "pipeline version never effective")
	})

	t.Run("another team's pipeline is not found", func(t *testing.T) {
		_, _, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), payOp, map[string]string{"id": id},
			map[string]any{"pipeline_id": "pl-other"})
		var p *problem.Error
		if !errors.As(err, &p) || p.Status != http.StatusNotFound {
			t.Fatalf("other team's pipeline: %v, want 404", err)
		}
		_, _, err = cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), payOp, map[string]string{"id": id},
			map[string]any{"pipeline_id": "pl-pay", "version": 9})
		if !errors.As(err, &p) || p.Status != http.StatusNotFound {
			t.Fatalf("missing version: %v, want 404", err)
		}
	})

	t.Run("events", func(t *testing.T) {
		testutil.Eventually(t, 10*time.Second, func() bool {
			evs := strings.Join(agentEvents(t, bus, id), ",")
			return strings.Contains(evs, "connected") && strings.Contains(evs, "config_applied") &&
				strings.Contains(evs, "effective_config_changed") && strings.Contains(evs, "health_changed")
		}, "agent events missing: %v", agentEvents(t, bus, id))
	})
}
