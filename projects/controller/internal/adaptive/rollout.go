package adaptive

import (
	"context"
	"fmt"

	"github.com/phoenix-platform/phoenix/projects/controller/internal/experimentrun"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// Actor is who adaptive rollouts name as their author.
const Actor = "adaptive"

// RolloutApplier deploys a mode as a rollout like any other: it creates
// it with experimentrun.CreateRollout (the pipeline version must belong to
// Team) and the controller's rollout runner takes it from there.
type RolloutApplier struct {
	Bus      experimentrun.Requester
	Store    *rollout.Store
	Team     string
	Strategy string // "" = all at once
}

// Apply implements Applier.
func (a *RolloutApplier) Apply(ctx context.Context, selector map[string]string, pipelineID string, version int, _ string) (string, error) {
	ro, err := experimentrun.CreateRollout(ctx, a.Bus, a.Store, Actor, experimentrun.RolloutRequest{
		Team: a.Team, PipelineID: pipelineID, Version: version, Selector: selector, Strategy: a.Strategy,
	})
	if err != nil {
		return "", fmt.Errorf("create rollout of %s v%d: %w", pipelineID, version, err)
	}
	return ro.ID, nil
}
