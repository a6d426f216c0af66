package security

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/client"
	clienttypes "github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

func opampKV(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

// fakeAgent connects to the OpAMP listener as an agent with key and labels;
// the channel receives each remote config the controller pushes.
func fakeAgent(t *testing.T, p *phoenix, key string, labels map[string]string) (string, <-chan *protobufs.AgentRemoteConfig) {
	t.Helper()
	uid := uuid.Must(uuid.NewV7())
	configs := make(chan *protobufs.AgentRemoteConfig, 4)
	c := client.NewWebSocket(nil)
	desc := &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{opampKV("host.name", "sec-host")}}
	for k, v := range labels {
		desc.NonIdentifyingAttributes = append(desc.NonIdentifyingAttributes, opampKV(k, v))
	}
	if err := c.SetAgentDescription(desc); err != nil {
		t.Fatal(err)
	}
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
	if err := c.SetCapabilities(&caps); err != nil {
		t.Fatal(err)
	}
	heartbeat := time.Second
	if err := c.Start(context.Background(), clienttypes.StartSettings{
		OpAMPServerURL:    "ws://" + p.opamp + "/v1/opamp",
		Header:            http.Header{"Authorization": {"Bearer " + key}},
		InstanceUid:       clienttypes.InstanceUid(uid),
		HeartbeatInterval: &heartbeat,
		Callbacks: clienttypes.Callbacks{
			OnMessage: func(_ context.Context, msg *clienttypes.MessageData) {
				if msg.RemoteConfig != nil {
					select {
					case configs <- msg.RemoteConfig:
					default:
					}
				}
			},
		},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return uid.String(), configs
}

// TestVariantStreamOnlyItsAgents (issue 14 §1, ADR 0016): once the
// controller deploys an experiment, its variant streams take writes only
// from the agents it deployed to (their agent key, naming the agent in
// X-Phoenix-Agent). A key of the experiment's own team that is not one of
// those agents is refused with stream_forbidden over OTLP and remote
// write, and nothing of it is counted; the agent's credentials are taken.
func TestVariantStreamOnlyItsAgents(t *testing.T) {
	p := sharedPhoenix(t)
	const team = "exp-team"
	teamIngest := p.teamKey(t, team, "operator", "ingest")
	operator := p.teamKey(t, team, "operator", "write")
	agentKey := p.teamKey(t, team, "operator", "agent", "ingest")
	otherAgentKey := p.teamKey(t, team, "operator", "ingest", "agent") // an agent of the team, not selected

	agentID, configs := fakeAgent(t, p, agentKey, map[string]string{"env": "sec-variant"})
	otherID, _ := fakeAgent(t, p, otherAgentKey, map[string]string{"env": "elsewhere"})

	spec := map[string]any{
		"apiVersion": "phoenix.dev/v1alpha1", "kind": "Experiment",
		"metadata": map[string]any{"name": "secvar"},
		"spec": map[string]any{
			"target":     map[string]any{"selector": map[string]string{"env": "sec-variant"}},
			"baseline":   map[string]any{"template": "baseline"},
			"candidates": []any{map[string]any{"name": "topk", "template": "topk", "set": map[string]string{"k": "10"}}},
			"warmup":     "1s", "duration": "10s",
			"criteria": map[string]any{"min_series_reduction_pct": 30},
		},
	}
	// The agents must be known to the fleet before the experiment selects.
	testutil.Eventually(t, 30*time.Second, func() bool {
		status, _ := p.call(t, http.MethodGet, "/api/v1/agents/"+agentID, p.admin, nil)
		return status == http.StatusOK
	}, "agent %s never registered", agentID)
	status, body := p.call(t, http.MethodPost, "/api/v1/experiments", operator, spec)
	var exp struct {
		ID string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &exp) != nil || exp.ID == "" {
		t.Fatalf("create experiment: %d %s", status, body)
	}
	if status, body := p.call(t, http.MethodPost, "/api/v1/experiments/"+exp.ID+"/start", operator, nil); status >= 300 {
		t.Fatalf("start experiment: %d %s", status, body)
	}
	// The controller reserves the variant streams before it pushes the
	// experiment's config to the agent.
	select {
	case <-configs:
	case <-time.After(90 * time.Second): // hang guard
		_, ev := p.call(t, http.MethodGet, "/api/v1/experiments/"+exp.ID+"/events", p.admin, nil)
		t.Fatalf("the experiment's config never reached the agent; events: %s", ev)
	}

	stream := "secvar--topk"
	withAgent := func(agent string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("X-Phoenix-Agent", agent) }
	}
	for _, c := range []struct {
		name, key string
		opt       func(*http.Request)
		want      int
	}{
		{"team ingest key", teamIngest, nil, http.StatusForbidden},
		{"team ingest key claiming the agent", teamIngest, withAgent(agentID), http.StatusForbidden},
		{"admin", p.admin, nil, http.StatusForbidden},
		{"an agent the experiment did not select", otherAgentKey, withAgent(otherID), http.StatusForbidden},
		{"the experiment's agent", agentKey, withAgent(agentID), http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The routing attributes, as the generated config sets them.
			req := gauges("m", 3, kv("phoenix.experiment.id", "secvar"), kv("phoenix.variant", "topk"))
			status, body := otlpWith(t, p, c.key, req, c.opt)
			if status != c.want {
				t.Fatalf("OTLP into %s: %d %s, want %d", stream, status, body, c.want)
			}
			if c.want == http.StatusForbidden && !strings.Contains(body, "stream_forbidden") && !strings.Contains(body, stream) {
				t.Errorf("refusal %q names neither the stream nor stream_forbidden", body)
			}
		})
	}
	if status, body := remoteWrite(t, p, teamIngest, stream, "intruder"); status != http.StatusForbidden {
		t.Errorf("team key remote write into %s: %d %s, want 403", stream, status, body)
	}
	// Only the agent's 3 series are in the stream.
	status, inv, invBody := p.inventory(t, stream)
	if status != http.StatusOK || inv.ActiveSeries != 3 || len(inv.Metrics) != 1 || inv.Metrics[0].Name != "m" {
		t.Errorf("%s: %d %s, want the agent's 3 series of m only", stream, status, invBody)
	}
	_, _ = p.call(t, http.MethodPost, "/api/v1/experiments/"+exp.ID+"/stop", operator, nil)
}

// otlpWith posts an OTLP/HTTP request with extra header settings.
func otlpWith(t *testing.T, p *phoenix, key string, req *colmetrics.ExportMetricsServiceRequest, opt func(*http.Request)) (int, string) {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, "http://"+p.otlpHTTP+"/v1/metrics", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Authorization", "Bearer "+key)
	if opt != nil {
		opt(r)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(r) // hang guard
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
