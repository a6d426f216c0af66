package experimentrun

import (
	"context"
	"fmt"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// reserveSlack is how long a reservation outlives the experiment's warm-up
// and duration: the apply timeout, the analysis and late exports fit in it.
const reserveSlack = 2 * time.Hour

// ReservingConfigs reserves an experiment's variant streams with analytics
// (apiv1.SubjectAnalyticsReserveStreams) before the fan-out config is
// built, so before anything is deployed: the streams are created owned by
// the experiment's team and only the selected agents' credentials may
// write into them (ADR 0016). The runner builds the config on every
// deploying step, so the reservation is repeated (idempotently) then. A
// refusal (another team holds a stream: 409) fails the experiment; an
// unreachable analytics is retried like any other step.
type ReservingConfigs struct {
	experiment.Configs
	Bus Requester
	Now func() time.Time // nil: time.Now
}

// ExperimentConfig reserves the streams, then builds the config.
func (c *ReservingConfigs) ExperimentConfig(ctx context.Context, r *experiment.Record) ([]byte, error) {
	if err := Reserve(ctx, c.Bus, r, c.now()); err != nil {
		return nil, err
	}
	return c.Configs.ExperimentConfig(ctx, r)
}

func (c *ReservingConfigs) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Reservation is what the controller announces for an experiment: its
// variant streams, its team, the agents it deploys to, and until when.
func Reservation(r *experiment.Record, now time.Time) apiv1.StreamReservation {
	spec := &r.Spec.Spec
	streams := []string{experiment.StreamID(r.Name(), experiment.BaselineVariant)}
	for _, c := range spec.Candidates {
		streams = append(streams, experiment.StreamID(r.Name(), c.Name))
	}
	agents := make([]string, 0, len(r.Progress.Agents))
	for _, a := range r.Progress.Agents {
		agents = append(agents, a.ID)
	}
	return apiv1.StreamReservation{Experiment: r.Name(), Team: r.Team, Streams: streams, Agents: agents,
		Until: now.Add(time.Duration(spec.Warmup) + time.Duration(spec.Duration) + reserveSlack).UTC()}
}

// Reserve announces the experiment's reservation to analytics.
func Reserve(ctx context.Context, bus Requester, r *experiment.Record, now time.Time) error {
	var out apiv1.StreamReservationReply
	if err := bus.Request(ctx, apiv1.SubjectAnalyticsReserveStreams, Reservation(r, now), &out); err != nil {
		return fmt.Errorf("reserve the variant streams of experiment %s: %w", r.Name(), err)
	}
	return nil
}
