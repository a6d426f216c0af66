// Package controller is the controller project's entry point. It runs the
// fleet (the OpAMP server agents connect to, internal/opampserver; the fleet
// store, internal/fleet; its API over NATS, internal/fleetapi) and the
// experiment lifecycle (internal/experiment, run by internal/experimentrun,
// served by internal/experimentapi) with its rollouts (internal/rollout),
// and adaptive control (internal/adaptive, served by internal/adaptiveapi).
package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/adaptive"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/adaptiveapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experimentapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experimentrun"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleetapi"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/opampserver"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rolloutapi"
)

// Fleet API subjects (the gateway forwards GET /api/v1/agents/{id} and POST
// /api/v1/agents/{id}/config to them), exported for in-process callers such
// as the --dev loop.
var (
	SubjectAgentGet    = apiv1.Subject(config.ServiceController, "getAgent")
	SubjectAgentConfig = apiv1.Subject(config.ServiceController, "pushAgentConfig")
)

// Controller is the controller service.
type Controller struct {
	s     service.Settings
	repo  *fleet.Repo
	opamp *opampserver.Server
	resp  *service.Responder
	exps  *experiment.Store
	// rollouts is the store the rollout API answers from (the runner in
	// exp uses its own over the same tables).
	rollouts *rollout.Store
	exp      *experimentrun.Service
	// adaptive keeps adaptive policies and decisions; adaptiveLoop runs
	// the enabled ones (issue 16).
	adaptive     *adaptive.Store
	adaptiveLoop *adaptive.Loop

	// ExperimentOptions tune the experiment runner (defaults from
	// NewController; not configuration keys yet). Set them before Start.
	ExperimentOptions experimentrun.Options
}

// Registration is how a runner runs the controller: its settings (the
// controller section) and its fleet tables.
func Registration() service.Registration {
	return service.Registration{
		Name:       config.ServiceController,
		New:        New,
		Config:     func() config.Section { c := DefaultConfig(); return &c },
		Migrations: fleet.Migrations(),
	}
}

// New builds the controller service.
func New(s service.Settings) (service.Service, error) {
	return NewController(s)
}

// NewController builds the controller with its concrete type (the --dev
// loop and tests ask it for the OpAMP address).
func NewController(s service.Settings) (*Controller, error) {
	c := &Controller{s: s, repo: fleet.NewRepo(s.Store)}
	cc := ConfigFrom(s.Config)
	c.opamp = opampserver.New(opampserver.Settings{
		Addr: s.Config.Controller.OpAMPAddr, Open: c.open(), Repo: c.repo,
		Auth: opampserver.NewNATSAuthenticator(s.Bus), Events: s.Bus, Logger: s.Logger.With("component", "opamp"),
		Registerer: registerer(s), MaxMessageBytes: cc.OpAMPMaxMessageBytes, MaxUnauthenticated: cc.OpAMPMaxUnauthenticated,
	})
	api := &fleetapi.API{Repo: c.repo, Deployer: c.opamp, Pipelines: s.Bus, Now: time.Now, Logger: s.Logger}
	c.exps = experiment.NewStore(s.Store)
	c.rollouts = rollout.NewStore(s.Store)
	c.adaptive = adaptive.NewStore(s.Store)
	c.adaptive.DecisionsKept, c.adaptive.MaxPolicies = cc.AdaptiveDecisionsKept, cc.AdaptiveMaxPolicies
	ops := operations(api, &experimentapi.API{Store: c.exps, Logger: s.Logger,
		Pin: func(ctx context.Context, team string, e *experiment.Experiment) error {
			return experimentrun.PinStored(ctx, s.Bus, team, e)
		}},
		&rolloutapi.API{Store: c.rollouts, Bus: s.Bus, Logger: s.Logger}, &adaptiveapi.API{Store: c.adaptive, Logger: s.Logger})
	c.resp = service.NewResponder(s, config.ServiceController, nil, ops.Endpoints(config.ServiceController)...)
	// Experiment configs send their variants to analytics' OTLP/HTTP
	// ingest, and a promoted pipeline exports there too, with the agent's
	// key and id from the collector's environment like the variants
	// (ADR 0016), so it is accepted outside --dev.
	ingest := "http://" + loopbackIfUnspecified(s.Config.Analytics.OTLPHTTPAddr)
	c.ExperimentOptions = experimentrun.Options{
		Ingest: ingest, Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: ingest, Headers: pipelinegen.IngestHeaders()},
	}
	return c, nil
}

// operations is the controller's REST table: the fleet's operations, the
// experiments', the rollouts' and adaptive control's. TestOperationsMatchSpec
// checks it against the spec.
func operations(fleetAPI *fleetapi.API, expAPI *experimentapi.API, roAPI *rolloutapi.API, adAPI *adaptiveapi.API) apiv1.Operations {
	ops := fleetAPI.Operations()
	maps.Copy(ops, expAPI.Operations())
	maps.Copy(ops, roAPI.Operations())
	maps.Copy(ops, adAPI.Operations())
	return ops
}

// loopbackIfUnspecified turns a listen address (":4318") into one an agent
// on this host can dial.
func loopbackIfUnspecified(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" && host != "0.0.0.0" && host != "::" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

func registerer(s service.Settings) prometheus.Registerer {
	if s.Metrics == nil {
		return nil
	}
	return s.Metrics.Registry
}

// Name is controller.
func (c *Controller) Name() string { return config.ServiceController }

// open reports whether agents may connect without a token.
func (c *Controller) open() bool { return ConfigFrom(c.s.Config).OpAMPOpen || c.s.Config.Dev }

// Start opens the OpAMP listener and joins the bus; the runner has applied
// the fleet migrations (Registration).
func (c *Controller) Start(ctx context.Context) error {
	if err := c.repo.DisconnectAll(ctx); err != nil {
		return err
	}
	// The experiment API answers from these tables as soon as the
	// responder starts.
	if err := c.exps.Migrate(ctx); err != nil {
		return err
	}
	if err := c.rollouts.Migrate(ctx); err != nil {
		return err
	}
	if err := c.adaptive.Migrate(ctx); err != nil {
		return err
	}
	if err := c.opamp.Start(); err != nil {
		return err
	}
	if err := c.resp.Start(); err != nil {
		_ = c.opamp.Stop(ctx)
		return fmt.Errorf("controller endpoints: %w", err)
	}
	exp, err := experimentrun.Start(ctx, experimentrun.Deps{DB: c.s.Store, Repo: c.repo, Pusher: c.opamp, Bus: c.s.Bus,
		Logger: c.s.Logger}, c.ExperimentOptions)
	if err != nil {
		_ = c.resp.Stop()
		_ = c.opamp.Stop(ctx)
		return fmt.Errorf("experiments: %w", err)
	}
	c.exp = exp
	// Adaptive decisions go out as rollouts through the same store the
	// runner (started above) takes them from.
	c.adaptiveLoop = adaptive.NewLoop(adaptive.LoopSettings{
		Store: c.adaptive, Measure: adaptive.AnalyticsMeasure(c.s.Bus),
		ApplierFor: func(team string) adaptive.Applier {
			return &adaptive.RolloutApplier{Bus: c.s.Bus, Store: c.rollouts, Team: team}
		},
		Events: c.s.Bus, Interval: ConfigFrom(c.s.Config).AdaptiveInterval, Logger: c.s.Logger.With("component", "adaptive"),
	})
	c.adaptiveLoop.Start()
	c.s.Logger.Info("opamp server listening", "addr", c.opamp.Addr().String(), "path", opampserver.Path,
		"open", c.open())
	return nil
}

// Shutdown leaves the bus and closes agent connections (agents keep their
// collectors running and reconnect later).
func (c *Controller) Shutdown(ctx context.Context) error {
	var expErr, adaptiveErr error
	if c.adaptiveLoop != nil {
		adaptiveErr = c.adaptiveLoop.Stop(ctx) // before the runner it creates rollouts for
	}
	if c.exp != nil {
		expErr = c.exp.Stop(ctx) // first: its steps use the bus and the OpAMP server
	}
	return errors.Join(adaptiveErr, expErr, c.resp.Stop(), c.opamp.Stop(ctx))
}

// RolloutRequest asks Experiments().CreateRollout for a rollout.
type RolloutRequest = experimentrun.RolloutRequest

// Experiments is the experiment service (nil before Start), for
// in-process callers (the REST surface reads and writes the same store).
func (c *Controller) Experiments() *experimentrun.Service { return c.exp }

// OpAMPAddr is the address the OpAMP server listens on.
func (c *Controller) OpAMPAddr() net.Addr { return c.opamp.Addr() }

// Responder exposes the NATS responder (tests stop and restart it).
func (c *Controller) Responder() *service.Responder { return c.resp }
