package adaptive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
)

// DefaultInterval is how often the loop measures every enabled policy.
const DefaultInterval = 30 * time.Second

// Event types of kind messaging.KindAdaptive.
const (
	EventDecision    = "decision"    // data: apiv1.AdaptiveDecision
	EventOscillation = "oscillating" // data: apiv1.AdaptiveDecision, more switches than allowed in the window
)

// Requester asks another service over the bus (messaging.Bus).
type Requester interface {
	Request(ctx context.Context, subject string, req, resp any) error
}

// Publisher stores an event on PHOENIX_EVENTS (messaging.Bus).
type Publisher interface {
	PublishEvent(ctx context.Context, kind, id, typ string, data any) error
}

// Measure returns a stream's active series.
type Measure func(ctx context.Context, stream string) (float64, error)

// AnalyticsMeasure measures through analytics' internal cardinality
// subject (the answer of GET /api/v1/streams/{stream}/cardinality).
func AnalyticsMeasure(bus Requester) Measure {
	return func(ctx context.Context, stream string) (float64, error) {
		var rep apiv1.CardinalityReport
		if err := bus.Request(ctx, apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: stream, TopValues: 1}, &rep); err != nil {
			return 0, fmt.Errorf("active series of stream %s: %w", stream, err)
		}
		return float64(rep.ActiveSeries), nil
	}
}

// LoopSettings is what the loop needs.
type LoopSettings struct {
	Store   *Store
	Measure Measure
	// ApplierFor gives the applier of a policy's team (a RolloutApplier
	// whose rollouts that team owns).
	ApplierFor func(team string) Applier
	Events     Publisher     // may be nil
	Interval   time.Duration // 0 = DefaultInterval
	Logger     *slog.Logger  // may be nil
	Now        func() time.Time
}

// entry is the controller of one policy at one version.
type entry struct {
	version int64
	ctrl    *Controller
}

// Loop measures every enabled policy each interval, decides, records the
// decision and (unless shadow) applies it. Its controllers are bounded by
// the stored enabled policies (the store caps those); a policy updated or
// disabled gets a fresh controller or none.
type Loop struct {
	s     LoopSettings
	ctrls map[string]entry

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewLoop returns a loop; Start runs it.
func NewLoop(s LoopSettings) *Loop {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Loop{s: s, ctrls: map[string]entry{}}
}

// Start runs the loop in the background with its own context until Stop.
func (l *Loop) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.s.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Tick(ctx); err != nil && ctx.Err() == nil {
					l.s.Logger.Warn("adaptive tick", "error", err)
				}
			}
		}
	}()
}

// Stop ends the loop and waits for the current tick (idempotent).
func (l *Loop) Stop(ctx context.Context) error {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop adaptive loop: %w", ctx.Err())
	}
}

// tickPage is how many enabled policies one query reads.
const tickPage = 100

// Tick runs every enabled policy once. Start calls it each interval; tests
// call it directly (never concurrently with a running loop).
func (l *Loop) Tick(ctx context.Context) error {
	seen := map[string]bool{}
	var errs []error
	for cursor := ""; ; {
		page, err := l.s.Store.Enabled(ctx, cursor, tickPage)
		if err != nil {
			return err
		}
		for _, p := range page {
			seen[p.ID] = true
			if err := l.run(ctx, p); err != nil {
				errs = append(errs, err)
			}
		}
		if len(page) < tickPage {
			break
		}
		cursor = page[len(page)-1].ID
	}
	for id := range l.ctrls {
		if !seen[id] {
			delete(l.ctrls, id) // disabled or deleted
		}
	}
	return errors.Join(errs...)
}

// run measures one policy, decides, records and publishes.
func (l *Loop) run(ctx context.Context, p *apiv1.AdaptivePolicy) error {
	e, ok := l.ctrls[p.ID]
	if !ok || e.version != p.Version {
		pol, err := PolicyFromSpec(p.ID, p.AdaptivePolicySpec)
		if err != nil {
			return fmt.Errorf("adaptive policy %s: %w", p.ID, err)
		}
		since := p.CreatedAt
		if p.ModeSince != nil {
			since = *p.ModeSince
		}
		ctrl, err := New(pol, l.s.ApplierFor(p.Team), p.Mode, since)
		if err != nil {
			return err
		}
		e = entry{version: p.Version, ctrl: ctrl}
		l.ctrls[p.ID] = e
	}
	series, err := l.s.Measure(ctx, p.Stream)
	if err != nil {
		return fmt.Errorf("adaptive policy %s: %w", p.ID, err)
	}
	now := l.s.Now()
	d := e.ctrl.Observe(ctx, now, series)
	if d == nil {
		return nil
	}
	rec, err := l.s.Store.Record(ctx, p.Team, d)
	if err != nil {
		return err
	}
	l.s.Logger.Info("adaptive decision", "policy_id", p.ID, "from", d.From, "to", d.To, "active_series", d.ActiveSeries,
		"shadow", d.Shadow, "applied", d.Applied, "rollout_id", d.RolloutID, "error", d.Error)
	if d.Error == "" {
		if err := l.s.Store.SetMode(ctx, p.ID, d.To, now); err != nil {
			return err
		}
	}
	if l.s.Events != nil {
		if err := l.s.Events.PublishEvent(ctx, messaging.KindAdaptive, p.ID, EventDecision, rec); err != nil {
			l.s.Logger.Warn("adaptive event", "policy_id", p.ID, "error", err)
		}
		if d.Oscillating {
			l.s.Logger.Warn("adaptive policy oscillating", "policy_id", p.ID, "switches_in_window", d.Switches)
			if err := l.s.Events.PublishEvent(ctx, messaging.KindAdaptive, p.ID, EventOscillation, rec); err != nil {
				l.s.Logger.Warn("adaptive event", "policy_id", p.ID, "error", err)
			}
		}
	}
	return nil
}
