package adaptive

import (
	"context"
	"errors"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// generator answers pipeline-version requests as the generator does.
type generator map[string]apiv1.PipelineVersion

func (g generator) Request(_ context.Context, subject string, req, resp any) error {
	if subject != apiv1.SubjectPipelineVersion {
		return errors.New("unexpected subject " + subject)
	}
	r := req.(apiv1.PipelineVersionRequest)
	pv, ok := g[r.PipelineID]
	if !ok || r.Version != 0 && r.Version != pv.Version {
		return problem.NotFound("pipeline %s version %d not found", r.PipelineID, r.Version)
	}
	*resp.(*apiv1.PipelineVersion) = pv
	return nil
}

// TestRolloutApplier: a decision in apply mode stores a rollout of the
// mode's pipeline version for the policy's selector; shadow mode stores
// none; a pipeline of another team fails the decision and keeps the mode.
func TestRolloutApplier(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := rollout.NewStore(db)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	bus := generator{
		"pl-cons": {PipelineID: "pl-cons", Version: 1, Team: "red", Config: "receivers: {}\n"},
		"pl-bal":  {PipelineID: "pl-bal", Version: 2, Team: "red", Config: "receivers: {otlp: {}}\n"},
		"pl-agg":  {PipelineID: "pl-agg", Version: 3, Team: "blue", Config: "receivers: {}\n"},
	}
	app := &RolloutApplier{Bus: bus, Store: store, Team: "red"}
	all := func() []*rollout.Record {
		rs, err := store.Find(ctx, nil, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	shadow, _ := New(policy(ActionShadow), app, "", start.Add(-hour))
	if d := shadow.Observe(ctx, start, 20_000); d == nil || d.Applied || len(all()) != 0 {
		t.Fatalf("shadow: decision %+v, %d rollouts", d, len(all()))
	}

	c, _ := New(policy(ActionApply), app, "", start.Add(-hour))
	d := c.Observe(ctx, start, 20_000)
	rs := all()
	if d == nil || !d.Applied || len(rs) != 1 {
		t.Fatalf("apply: decision %+v, %d rollouts", d, len(rs))
	}
	ro := rs[0]
	if ro.ID != d.RolloutID || ro.PipelineID != "pl-bal" || ro.PipelineVersion != 2 || ro.Team != "red" || ro.Selector["env"] != "prod" {
		t.Fatalf("rollout %+v for decision %+v", ro, d)
	}
	// aggressive's pipeline belongs to another team: refused, mode kept.
	d = c.Observe(ctx, start.Add(hour), 200_000)
	if d == nil || d.Applied || d.Error == "" || c.Current() != "balanced" || len(all()) != 1 {
		t.Fatalf("foreign pipeline: decision %+v, current %s, %d rollouts", d, c.Current(), len(all()))
	}
}
