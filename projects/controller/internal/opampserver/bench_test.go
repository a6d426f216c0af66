package opampserver

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/open-telemetry/opamp-go/protobufs"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// BenchmarkHeartbeat is the per-message cost of an agent's heartbeat (an
// AgentToServer with nothing changed) on embedded SQLite, which bounds how
// many agents one controller serves: N agents / 30 s heartbeats.
func BenchmarkHeartbeat(b *testing.B) {
	ctx := context.Background()
	store, err := database.Open(ctx, "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	repo := fleet.NewRepo(store)
	if err := repo.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	s := New(Settings{Repo: repo, Logger: slog.New(slog.DiscardHandler), Open: true})
	uid := uuid.Must(uuid.NewV7())
	cfg := make([]byte, 4096) // a typical collector config's size
	for i := range cfg {
		cfg[i] = 'a' + byte(i%26)
	}
	sess := &session{principal: apiv1.Principal{Role: "admin"}}
	first := &protobufs.AgentToServer{InstanceUid: uid[:],
		AgentDescription: &protobufs.AgentDescription{IdentifyingAttributes: []*protobufs.KeyValue{kv("host.name", "h")}},
		Health:           &protobufs.ComponentHealth{Healthy: true, Status: "running"},
		EffectiveConfig: &protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			ConfigFileName: {Body: cfg}}}},
	}
	s.onMessage(ctx, sess, first)
	if err := repo.CreateDeployment(ctx, &fleet.Deployment{ID: "dep-1", AgentID: uid.String(), Kind: fleet.KindRaw,
		Config: string(cfg), ConfigHash: fleet.Hash(cfg), CreatedBy: "b", Status: fleet.StatusApplied}); err != nil {
		b.Fatal(err)
	}
	hb := &protobufs.AgentToServer{InstanceUid: uid[:], SequenceNum: 2}
	b.ReportAllocs()
	for b.Loop() {
		if resp := s.onMessage(ctx, sess, hb); resp.ErrorResponse != nil {
			b.Fatal(resp.ErrorResponse)
		}
	}
}
