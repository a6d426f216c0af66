package opampserver

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

func kv(k, v string) *protobufs.KeyValue {
	return &protobufs.KeyValue{Key: k, Value: &protobufs.AnyValue{Value: &protobufs.AnyValue_StringValue{StringValue: v}}}
}

func TestTeamOf(t *testing.T) {
	open := apiv1.Principal{Kind: "anonymous", Role: "admin"}
	payKey := apiv1.Principal{Kind: "api_key", Role: "operator", Teams: []string{"payments", "search"}}
	noTeam := apiv1.Principal{Kind: "api_key", Role: "operator"}
	tests := []struct {
		name    string
		p       apiv1.Principal
		labels  map[string]string
		current string
		want    string
	}{
		{"open server takes the label", open, map[string]string{"team": "infra"}, "", "infra"},
		{"open server without label is default", open, nil, "", fleet.DefaultTeam},
		{"key enrols into its first team", payKey, nil, "", "payments"},
		{"key may pick one of its teams", payKey, map[string]string{"team": "search"}, "", "search"},
		{"key cannot claim another team", payKey, map[string]string{"team": "infra"}, "", "payments"},
		{"known agent keeps its team", payKey, map[string]string{"team": "infra"}, "search", "search"},
		{"key without teams is default", noTeam, nil, "", fleet.DefaultTeam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := teamOf(tt.p, tt.labels, tt.current); got != tt.want {
				t.Fatalf("teamOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyReport(t *testing.T) {
	a := &fleet.Agent{ID: "x"}
	cfg := []byte("receivers: {}\n")
	applyReport(a, &protobufs.AgentToServer{
		AgentDescription: &protobufs.AgentDescription{
			IdentifyingAttributes:    []*protobufs.KeyValue{kv("host.name", "h1"), kv("service.version", "v1.2.3")},
			NonIdentifyingAttributes: []*protobufs.KeyValue{kv("env", "prod"), kv("os.type", "linux")},
		},
		Health: &protobufs.ComponentHealth{Healthy: false, Status: "crashed", LastError: "exit 1"},
		EffectiveConfig: &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			ConfigFileName: {Body: cfg},
		}}},
		RemoteConfigStatus: &protobufs.RemoteConfigStatus{LastRemoteConfigHash: []byte{0xab, 0xcd},
			Status: protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, ErrorMessage: "bad"},
	})
	if a.Hostname != "h1" || a.AgentVersion != "v1.2.3" || a.Labels["env"] != "prod" || len(a.Labels) != 2 {
		t.Errorf("description: %+v", a)
	}
	if a.Healthy == nil || *a.Healthy || a.HealthStatus != "crashed" || a.LastError != "exit 1" {
		t.Errorf("health: %+v", a)
	}
	if a.EffectiveConfig != string(cfg) || a.EffectiveConfigHash != fleet.Hash(cfg) {
		t.Errorf("effective config: %q %q", a.EffectiveConfig, a.EffectiveConfigHash)
	}
	if a.RemoteConfigStatus != fleet.StatusFailed || a.RemoteConfigHash != "abcd" || a.RemoteConfigError != "bad" {
		t.Errorf("remote config status: %+v", a)
	}
	// A heartbeat (nothing set) changes nothing.
	before := *a
	applyReport(a, &protobufs.AgentToServer{})
	if a.Hostname != before.Hostname || a.EffectiveConfigHash != before.EffectiveConfigHash || *a.Healthy != *before.Healthy ||
		a.RemoteConfigStatus != before.RemoteConfigStatus {
		t.Errorf("heartbeat changed the agent: %+v", a)
	}
	// Labels are bounded.
	many := &protobufs.AgentDescription{}
	for i := range 100 {
		many.NonIdentifyingAttributes = append(many.NonIdentifyingAttributes, kv(string(rune('a'+i%26))+string(rune('a'+i/26)), "v"))
	}
	applyReport(a, &protobufs.AgentToServer{AgentDescription: many})
	if len(a.Labels) != 64 {
		t.Errorf("labels not bounded: %d", len(a.Labels))
	}
}

func TestReported(t *testing.T) {
	yes, no := true, false
	base := fleet.Agent{ID: "x", Connected: true, Healthy: &yes, Labels: map[string]string{"env": "a"}, EffectiveConfigHash: "h"}
	same := base
	same.LastSeen = time.Now()
	same.Labels = map[string]string{"env": "a"}
	if reported(&base, &same) {
		t.Error("a heartbeat counted as a report")
	}
	for name, mod := range map[string]func(a *fleet.Agent){
		"health":      func(a *fleet.Agent) { a.Healthy = &no },
		"health null": func(a *fleet.Agent) { a.Healthy = nil },
		"label value": func(a *fleet.Agent) { a.Labels = map[string]string{"env": "b"} },
		"label added": func(a *fleet.Agent) { a.Labels = map[string]string{"env": "a", "x": "y"} },
		"config":      func(a *fleet.Agent) { a.EffectiveConfigHash = "h2" },
		"remote":      func(a *fleet.Agent) { a.RemoteConfigStatus = fleet.StatusFailed },
		"reconnect":   func(a *fleet.Agent) { a.Connected = false },
	} {
		changed := base
		mod(&changed)
		if !reported(&base, &changed) {
			t.Errorf("%s change not seen", name)
		}
	}
}

// TestReconnectKeepsTeam: an agent reconnecting with the key it enrolled
// with is accepted (also a key bound to no team, whose agents are in
// "default"); a key of another team cannot take the agent over.
func TestReconnectKeepsTeam(t *testing.T) {
	ctx := context.Background()
	store, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	repo := fleet.NewRepo(store)
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := New(Settings{Repo: repo, Logger: slog.New(slog.DiscardHandler)})
	hello := func(p apiv1.Principal, uid uuid.UUID) *protobufs.ServerToAgent {
		return s.onMessage(ctx, &session{principal: p}, &protobufs.AgentToServer{InstanceUid: uid[:],
			AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", "h")}}})
	}
	noTeam := apiv1.Principal{Subject: "k0", Kind: "api_key", Role: "operator"}
	pay := apiv1.Principal{Subject: "k1", Kind: "api_key", Role: "operator", Teams: []string{"payments"}}
	a1, a2 := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for i := range 2 {
		if r := hello(noTeam, a1); r.ErrorResponse != nil {
			t.Fatalf("no-team key, connection %d: %v", i+1, r.ErrorResponse)
		}
		if r := hello(pay, a2); r.ErrorResponse != nil {
			t.Fatalf("team key, connection %d: %v", i+1, r.ErrorResponse)
		}
	}
	if r := hello(pay, a1); r.ErrorResponse == nil {
		t.Fatal("a payments key took over a default-team agent")
	}
	if r := hello(noTeam, a2); r.ErrorResponse == nil {
		t.Fatal("a no-team key took over a payments agent")
	}
	if a, _ := repo.GetAgent(ctx, a2.String()); a.Team != "payments" {
		t.Fatalf("team = %q", a.Team)
	}
}

func TestAgentID(t *testing.T) {
	id, err := AgentID([]byte{0x01, 0x8f, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x01})
	if err != nil || id != "018f0000-0000-7000-8000-000000000001" {
		t.Fatalf("AgentID = %q, %v", id, err)
	}
	if _, err := AgentID([]byte{1, 2, 3}); err == nil {
		t.Fatal("short uid accepted")
	}
}

func TestRemoteConfig(t *testing.T) {
	d := &fleet.Deployment{ID: "d", Config: "a: 1\n", ConfigHash: fleet.Hash([]byte("a: 1\n"))}
	rc, err := RemoteConfig(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(configBody(rc.Config)) != d.Config || len(rc.ConfigHash) != 32 {
		t.Fatalf("remote config: %v", rc)
	}
	if _, err := RemoteConfig(&fleet.Deployment{ID: "d", ConfigHash: "zz"}); err == nil {
		t.Fatal("bad hash accepted")
	}
}

type fakeBus struct {
	calls int
	p     apiv1.Principal
	err   error
}

func (f *fakeBus) Request(_ context.Context, subject string, req, resp any) error {
	f.calls++
	if subject != apiv1.SubjectAuthenticate || req.(apiv1.AuthenticateRequest).Scope != "agent" {
		return errors.New("unexpected request")
	}
	if f.err != nil {
		return f.err
	}
	*resp.(*apiv1.Principal) = f.p
	return nil
}

func TestAuthenticatorCachesForASecond(t *testing.T) {
	bus := &fakeBus{p: apiv1.Principal{Subject: "k1", Kind: "api_key"}}
	a := NewNATSAuthenticator(bus)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for range 3 {
		if p, err := a.Authenticate(context.Background(), "tok"); err != nil || p.Subject != "k1" {
			t.Fatalf("authenticate: %v %v", p, err)
		}
	}
	if bus.calls != 1 {
		t.Fatalf("%d calls within the cache window, want 1", bus.calls)
	}
	now = now.Add(time.Second) // revocations must take effect within a second
	bus.err = errors.New("revoked")
	if _, err := a.Authenticate(context.Background(), "tok"); err == nil {
		t.Fatal("cached answer used after a second")
	}
	if _, err := a.Authenticate(context.Background(), "tok"); err == nil || bus.calls != 3 {
		t.Fatalf("failures must not be cached: calls %d", bus.calls)
	}
}
