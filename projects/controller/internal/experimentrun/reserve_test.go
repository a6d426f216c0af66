package experimentrun

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

type reserveBus struct {
	got []apiv1.StreamReservation
	err error
}

func (b *reserveBus) Request(_ context.Context, subject string, req, _ any) error {
	if subject != apiv1.SubjectAnalyticsReserveStreams {
		return problem.NotFound("unexpected subject %s", subject)
	}
	b.got = append(b.got, req.(apiv1.StreamReservation))
	return b.err
}

type configsOnly struct {
	experiment.Configs
	calls int
}

func (c *configsOnly) ExperimentConfig(context.Context, *experiment.Record) ([]byte, error) {
	c.calls++
	return []byte("config"), nil
}

// TestReservingConfigs: the variant streams are reserved for the
// experiment's team and agents before the config is built; a refusal
// (another team holds a stream) stops the deploy with the analytics
// problem, which the runner treats as permanent.
func TestReservingConfigs(t *testing.T) {
	e, err := experiment.Parse([]byte(topkSpec))
	if err != nil {
		t.Fatal(err)
	}
	rec := &experiment.Record{Team: "payments", Spec: *e, Progress: experiment.Progress{
		Agents: []experiment.AgentProgress{{ID: "agent-1"}, {ID: "agent-2"}}}}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name       string
		busErr     error
		wantStatus int // 0: success
	}{
		{"reserved then built", nil, 0},
		{"another team holds a stream", problem.Conflict("stream topk-vs-baseline--topk belongs to team other"), http.StatusConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			bus, inner := &reserveBus{err: c.busErr}, &configsOnly{}
			rc := &ReservingConfigs{Configs: inner, Bus: bus, Now: func() time.Time { return now }}
			cfg, err := rc.ExperimentConfig(context.Background(), rec)
			if len(bus.got) != 1 {
				t.Fatalf("%d reservations sent, want 1", len(bus.got))
			}
			got := bus.got[0]
			if got.Team != "payments" || !slices.Equal(got.Streams, []string{"topk-vs-baseline--baseline", "topk-vs-baseline--topk"}) ||
				!slices.Equal(got.Agents, []string{"agent-1", "agent-2"}) || !got.Until.Equal(now.Add(11*time.Second+reserveSlack)) {
				t.Errorf("reservation %+v", got)
			}
			if c.wantStatus == 0 {
				if err != nil || string(cfg) != "config" || inner.calls != 1 {
					t.Fatalf("config %q, err %v, %d builds", cfg, err, inner.calls)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != c.wantStatus || inner.calls != 0 {
				t.Fatalf("err %v (%d builds), want a %d problem and no build", err, inner.calls, c.wantStatus)
			}
		})
	}
}
