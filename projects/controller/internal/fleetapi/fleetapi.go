// Package fleetapi answers the fleet's REST operations forwarded by the
// gateway over NATS: list and get agents, push a config (a stored pipeline
// version, a raw config for admins, or a rollback to an earlier deployment)
// and the deployment history.
package fleetapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// maxConfigBytes bounds a pushed config (the gateway bounds bodies too).
const maxConfigBytes = 512 << 10

// Deployer sends a recorded deployment to a connected agent.
type Deployer interface {
	Deploy(ctx context.Context, d *fleet.Deployment) (delivered bool, err error)
}

// Requester fetches pipeline versions from the generator.
type Requester interface {
	Request(ctx context.Context, subject string, req, resp any) error
}

// API holds the handlers.
type API struct {
	Repo      *fleet.Repo
	Deployer  Deployer
	Pipelines Requester
	Now       func() time.Time
	Logger    *slog.Logger // may be nil
}

// Operations is the fleet's REST handler table, keyed by the operationIds
// of api/openapi.yaml (x-phoenix-service: controller).
func (a *API) Operations() apiv1.Operations {
	return apiv1.Operations{
		"listAgents":      apiv1.ListOf(a.listAgents, func(ag *fleet.Agent) string { return ag.ID }),
		"getAgent":        a.get,
		"pushAgentConfig": a.config,
		"getAgentHistory": apiv1.ListOf(a.history, func(d *fleet.Deployment) string { return d.ID }),
	}
}

// teams is the team filter for lists: nil (all) for admins.
func teams(p apiv1.Principal) []string {
	if p.Admin() {
		return nil
	}
	if p.Teams == nil {
		return []string{}
	}
	return p.Teams
}

func (a *API) listAgents(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]*fleet.Agent, error) {
	return a.Repo.ListAgents(ctx, teams(req.Principal), cursor, n)
}

// agent loads an agent the caller may see; other teams' agents are 404 so
// their existence does not leak.
func (a *API) agent(ctx context.Context, req *apiv1.Request) (*fleet.Agent, error) {
	id := req.Params["id"]
	ag, err := a.Repo.GetAgent(ctx, id)
	if errors.Is(err, database.ErrNotFound) || err == nil && !req.Principal.InTeam(ag.Team) {
		return nil, problem.NotFound("agent %s not found", id)
	}
	return ag, err
}

func (a *API) get(ctx context.Context, req *apiv1.Request) (any, error) {
	return a.agent(ctx, req)
}

// history reads an agent's deployments, newest first; the agent must be
// visible to the caller (checked on every page).
func (a *API) history(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]*fleet.Deployment, error) {
	ag, err := a.agent(ctx, req)
	if err != nil {
		return nil, err
	}
	return a.Repo.History(ctx, ag.ID, cursor, n)
}

func (a *API) config(ctx context.Context, req *apiv1.Request) (any, error) {
	p := req.Principal
	if p.Role != "operator" && !p.Admin() {
		return nil, problem.Forbidden("pushing a config needs the operator role")
	}
	var body apiv1.PushConfigRequest
	if err := req.DecodeBody(&body); err != nil {
		return nil, err
	}
	if err := validateConfigRequest(&body); err != nil {
		return nil, err
	}
	ag, err := a.agent(ctx, req)
	if err != nil {
		return nil, err
	}
	now := a.Now().UTC()
	d := &fleet.Deployment{
		ID: fleet.NewDeploymentID(now), AgentID: ag.ID, CreatedBy: p.Subject, Reason: body.Reason,
		CreatedAt: now, UpdatedAt: now, Status: fleet.StatusPending,
	}
	switch {
	case body.Config != "":
		if !p.Admin() {
			return nil, problem.Forbidden("only admins may push a raw config; push a pipeline version instead")
		}
		// Validated by the agent (phoenix-collector validate), not here: the
		// agent runs the collector that has to accept it.
		d.Kind, d.Config = fleet.KindRaw, body.Config
	case body.PipelineID != "":
		var pv apiv1.PipelineVersion
		err := a.Pipelines.Request(ctx, apiv1.SubjectPipelineVersion,
			apiv1.PipelineVersionRequest{PipelineID: body.PipelineID, Version: body.Version}, &pv)
		if err != nil {
			if pe := problem.From(err); pe.Status == http.StatusNotFound {
				return nil, problem.NotFound("pipeline %s version %d not found", body.PipelineID, body.Version)
			}
			return nil, fmt.Errorf("fetch pipeline version: %w", err)
		}
		if !p.InTeam(pv.Team) {
			return nil, problem.NotFound("pipeline %s version %d not found", body.PipelineID, body.Version)
		}
		d.Kind, d.Config, d.PipelineID, d.PipelineVersion = fleet.KindPipeline, pv.Config, pv.PipelineID, pv.Version
	default:
		prev, err := a.Repo.GetDeployment(ctx, body.RollbackTo)
		if errors.Is(err, database.ErrNotFound) || err == nil && prev.AgentID != ag.ID {
			return nil, problem.NotFound("deployment %s of agent %s not found", body.RollbackTo, ag.ID)
		}
		if err != nil {
			return nil, err
		}
		d.Kind, d.Config, d.RollbackOf = fleet.KindRollback, prev.Config, prev.ID
		d.PipelineID, d.PipelineVersion = prev.PipelineID, prev.PipelineVersion
	}
	if len(d.Config) > maxConfigBytes {
		return nil, problem.BadRequest("config too large", problem.FieldError{Path: "config", Message: fmt.Sprintf("at most %d bytes", maxConfigBytes)})
	}
	d.ConfigHash = fleet.Hash([]byte(d.Config))
	if err := a.Repo.CreateDeployment(ctx, d); err != nil {
		return nil, err
	}
	delivered, err := a.Deployer.Deploy(ctx, d)
	if err != nil {
		// Recorded: the agent gets it on its next message or reconnect.
		delivered = false
		if a.Logger != nil {
			a.Logger.Warn("deployment recorded but not sent", "deployment_id", d.ID, "agent_id", d.AgentID, "error", err)
		}
	}
	return messaging.StatusReply{Status: http.StatusAccepted, Body: apiv1.PushConfigResult{Deployment: d, Delivered: delivered}}, nil
}

// validateConfigRequest reports every problem of a push body at once.
func validateConfigRequest(b *apiv1.PushConfigRequest) error {
	n := 0
	for _, set := range []bool{b.PipelineID != "", b.Config != "", b.RollbackTo != ""} {
		if set {
			n++
		}
	}
	var errs []problem.FieldError
	if n != 1 {
		errs = append(errs, problem.FieldError{Path: "pipeline_id", Message: "give exactly one of pipeline_id, config or rollback_to"})
	}
	if b.Version < 0 {
		errs = append(errs, problem.FieldError{Path: "version", Message: "must be 0 (latest) or a version number"})
	}
	if len(b.Reason) > 1024 {
		errs = append(errs, problem.FieldError{Path: "reason", Message: "at most 1024 characters"})
	}
	if strings.TrimSpace(b.Config) == "" && b.Config != "" {
		errs = append(errs, problem.FieldError{Path: "config", Message: "must not be blank"})
	}
	if len(errs) > 0 {
		return problem.BadRequest("invalid config request", errs...)
	}
	return nil
}
