// Package rolloutapi serves /api/v1/rollouts over NATS: create, list, get
// and abort rollouts. It holds no rollout logic: create is
// experimentrun.CreateRollout (which fetches the pipeline version from the
// generator), abort is a rollout.Store Abort, and the runner does the rest.
package rolloutapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experimentrun"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// abortAttempts bounds the retries of an abort that lost a race with the
// runner, which writes at every step and pause.
const abortAttempts = 3

// API answers the rollout operations of api/openapi.yaml.
type API struct {
	Store *rollout.Store
	// Bus fetches pipeline versions from the generator.
	Bus    experimentrun.Requester
	Logger *slog.Logger // may be nil
}

// Operations is the rollouts' REST handler table, keyed by the
// operationIds of api/openapi.yaml (x-phoenix-service: controller).
func (a *API) Operations() apiv1.Operations {
	return apiv1.Operations{
		"createRollout": a.create,
		"listRollouts":  apiv1.ListOf(a.list, func(r apiv1.Rollout) string { return r.ID }),
		"getRollout":    a.get,
		"abortRollout":  a.abort,
	}
}

// create validates the body and stores a rolling rollout; the pipeline
// version must belong to the owning team (404 otherwise).
func (a *API) create(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("rollouts"); err != nil {
		return nil, err
	}
	var body apiv1.CreateRolloutRequest
	if err := req.DecodeBody(&body); err != nil {
		return nil, err
	}
	var pause time.Duration
	if body.Pause != "" {
		d, err := time.ParseDuration(body.Pause)
		if err != nil || d < 0 {
			return nil, problem.BadRequest("invalid rollout", problem.FieldError{Path: "pause", Message: "must be a Go duration such as 30s"})
		}
		pause = d
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "a rollout")
	if err != nil {
		return nil, err
	}
	ro, err := experimentrun.CreateRollout(ctx, a.Bus, a.Store, req.Principal.Subject, experimentrun.RolloutRequest{
		Team: team, PipelineID: body.PipelineID, Version: body.Version, Selector: body.Selector,
		Strategy: body.Strategy, Steps: body.Steps, Pause: pause, Critical: body.Critical, Stream: body.Stream,
	})
	if err != nil {
		return nil, err
	}
	a.log().Info("rollout created", "rollout", ro.ID, "pipeline", ro.PipelineID, "pipeline_version", ro.PipelineVersion,
		"strategy", ro.Plan.Strategy, "team", team, "actor", req.Principal.Subject)
	return messaging.StatusReply{Status: http.StatusCreated, Body: Wire(ro)}, nil
}

func (a *API) list(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Rollout, error) {
	var teams []string // nil: every team, for admins
	if !req.Principal.Admin() {
		teams = append([]string{}, req.Principal.Teams...)
	}
	recs, err := a.Store.Find(ctx, teams, cursor, n)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.Rollout, len(recs))
	for i, r := range recs {
		out[i] = Wire(r)
	}
	return out, nil
}

// record loads a rollout the caller may see; other teams' rollouts are
// 404 so their existence does not leak.
func (a *API) record(ctx context.Context, req *apiv1.Request) (*rollout.Record, error) {
	id := req.Params["id"]
	r, err := a.Store.Get(ctx, id)
	if errors.Is(err, database.ErrNotFound) || err == nil && !req.Principal.InTeam(r.Team) {
		return nil, problem.NotFound("rollout %s not found", id)
	}
	return r, err
}

func (a *API) get(ctx context.Context, req *apiv1.Request) (any, error) {
	r, err := a.record(ctx, req)
	if err != nil {
		return nil, err
	}
	return Wire(r), nil
}

// abort stops a rolling rollout at the version just read, retried when
// the runner wrote in between; a finished rollout is 409 naming its state.
func (a *API) abort(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("rollouts"); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		r, err := a.record(ctx, req)
		if err != nil {
			return nil, err
		}
		out, err := a.Store.Abort(ctx, r.ID, r.Version, req.Principal.Subject, "aborted by "+req.Principal.Subject)
		if errors.Is(err, database.ErrConflict) && attempt < abortAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		a.log().Info("rollout aborted", "rollout", out.ID, "actor", req.Principal.Subject)
		return Wire(out), nil
	}
}

// Wire is a stored rollout as the API answers it.
func Wire(r *rollout.Record) apiv1.Rollout {
	p := r.Progress
	agents := make([]string, len(p.Agents))
	for i, ag := range p.Agents {
		agents[i] = ag.ID
	}
	steps := r.Plan.Steps
	if steps == nil {
		steps = []int{}
	}
	pause := ""
	if r.Plan.Pause != 0 {
		pause = time.Duration(r.Plan.Pause).String()
	}
	selector := r.Selector
	if selector == nil {
		selector = map[string]string{}
	}
	return apiv1.Rollout{
		ID: r.ID, Team: r.Team, State: string(r.State), Reason: r.Reason, Version: r.Version, Selector: selector,
		PipelineID: r.PipelineID, PipelineVersion: r.PipelineVersion, ConfigHash: r.ConfigHash,
		Strategy: r.Plan.Strategy, Steps: steps, Pause: pause, Critical: r.Critical, Stream: r.Stream,
		Progress: apiv1.RolloutProgress{Agents: agents, Step: p.RolloutStep, Pausing: p.RolloutPausing,
			Restored: p.Restored, Note: p.Note},
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
