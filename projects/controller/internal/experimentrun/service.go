package experimentrun

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// DefaultInterval is how often the runner steps every live experiment.
const DefaultInterval = 2 * time.Second

// Options tune the experiment service. They are not configuration keys
// (yet): the controller fills them with defaults and tests override them.
type Options struct {
	// Interval between reconcile passes (default DefaultInterval).
	Interval time.Duration
	// ApplyTimeout bounds how long agents may take to run a pushed config
	// healthily (default: the runner's, 2m).
	ApplyTimeout time.Duration
	// MinWindows is the fewest analysis windows a verdict needs (default
	// experiment.DefaultMinWindows).
	MinWindows int
	// Ingest and Exporter go into every generated config; Source,
	// TelemetryAddr and HealthAddr only when the first agent's production
	// config is unknown (see Configs).
	Source        pipelinegen.Source
	Ingest        string
	Exporter      *pipelinegen.Exporter
	TelemetryAddr string
	HealthAddr    string
}

// Deps are the controller's parts the service runs on.
type Deps struct {
	DB     *database.Store
	Repo   *fleet.Repo
	Pusher Pusher
	Bus    *messaging.Bus
	Logger *slog.Logger
}

// Service is the experiment and rollout stores and their runners,
// running in the background until Stop.
type Service struct {
	bus      Requester
	store    *experiment.Store
	rollouts *rollout.Store
	cancel   context.CancelFunc
	done     sync.WaitGroup
	stop     sync.Once
}

// Start migrates the experiment tables and starts the runner on its own
// context: it resumes every live experiment the store holds.
func Start(ctx context.Context, d Deps, o Options) (*Service, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	store, rollouts := experiment.NewStore(d.DB), rollout.NewStore(d.DB)
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	if err := rollouts.Migrate(ctx); err != nil {
		return nil, err
	}
	dep := &Deployer{Repo: d.Repo, Pusher: d.Pusher, Logger: d.Logger}
	// Each runner leaves alone the agents the other holds.
	var ro *rollout.Runner
	configs := &Configs{Bus: d.Bus, Previous: dep.ConfigByHash, Source: o.Source, Ingest: o.Ingest, Exporter: o.Exporter,
		TelemetryAddr: o.TelemetryAddr, HealthAddr: o.HealthAddr}
	silence := &Silence{Bus: d.Bus,
		Hostname: func(ctx context.Context, id string) (string, error) {
			a, err := d.Repo.GetAgent(ctx, id)
			if err != nil {
				return "", err
			}
			return a.Hostname, nil
		},
		Source: func(ctx context.Context, r *experiment.Record) (pipelinegen.Source, error) {
			st, err := configs.setup(ctx, r)
			return st.Source, err
		},
	}
	runner, err := experiment.NewRunner(experiment.Settings{
		Store:        store,
		Deployer:     dep,
		Configs:      &ReservingConfigs{Bus: d.Bus, Configs: configs},
		Analyzer:     &Analyzer{Bus: d.Bus, Silence: silence},
		Publisher:    &Publisher{JS: d.Bus.JS, Store: store},
		Clock:        wallClock{},
		Logger:       d.Logger,
		ApplyTimeout: o.ApplyTimeout,
		Policy:       experiment.Policy{MinWindows: o.MinWindows},
		Held:         func(ctx context.Context, self string) (map[string]string, error) { return ro.Holding(ctx, self) },
	})
	if err != nil {
		return nil, err
	}
	ro, err = rollout.NewRunner(rollout.Settings{Store: rollouts, Deployer: dep, Clock: wallClock{}, Logger: d.Logger,
		ApplyTimeout: o.ApplyTimeout, Held: runner.HeldAgents, Publisher: &RolloutPublisher{JS: d.Bus.JS},
		Critical: &CriticalChecker{Bus: d.Bus}})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s := &Service{bus: d.Bus, store: store, rollouts: rollouts, cancel: cancel}
	s.done.Add(2)
	go func() {
		defer s.done.Done()
		runner.Run(rctx, o.Interval)
	}()
	go func() {
		defer s.done.Done()
		ro.Run(rctx, o.Interval)
	}()
	return s, nil
}

// Stop ends the runner and waits for its current step; it may be called
// more than once.
func (s *Service) Stop(ctx context.Context) error {
	s.stop.Do(s.cancel)
	done := make(chan struct{})
	go func() {
		s.done.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("experiment runner did not stop: %w", ctx.Err())
	}
}

// Create parses and stores an experiment of team, started (pending) when
// start is set; the runner picks it up on its next pass. An invalid spec
// is a 400 listing every error.
func (s *Service) Create(ctx context.Context, team, actor string, spec []byte, start bool) (*experiment.Record, error) {
	e, err := experiment.Parse(spec)
	if err != nil {
		return nil, err
	}
	if team == "" {
		return nil, problem.BadRequest("an experiment belongs to a team")
	}
	if err := PinStored(ctx, s.bus, team, e); err != nil {
		return nil, err
	}
	rec := &experiment.Record{Team: team, Spec: *e, State: experiment.Draft}
	if start {
		rec.State = experiment.Pending
	}
	if err := s.store.Create(ctx, rec, actor, "created"); err != nil {
		return nil, err
	}
	return rec, nil
}

// Get returns one experiment (a 404 wrapping database.ErrNotFound when
// absent).
func (s *Service) Get(ctx context.Context, id string) (*experiment.Record, error) {
	return s.store.Get(ctx, id)
}

// Transitions returns an experiment's log after seq, oldest first.
func (s *Service) Transitions(ctx context.Context, id string, after int64, limit int) ([]experiment.Transition, error) {
	return s.store.Transitions(ctx, id, after, limit)
}

// Store is the experiment store (for the REST handlers to come).
func (s *Service) Store() *experiment.Store { return s.store }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
