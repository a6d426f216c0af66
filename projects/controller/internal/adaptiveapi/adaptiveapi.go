// Package adaptiveapi serves /api/v1/adaptive over NATS: create, list,
// get, update and delete adaptive policies, and list their decisions.
// RBAC as for rollouts: viewers read their teams', operators write,
// another team's policy is 404.
package adaptiveapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/adaptive"
)

// API answers the adaptive operations of api/openapi.yaml.
type API struct {
	Store  *adaptive.Store
	Logger *slog.Logger // may be nil
}

// Operations is the adaptive REST handler table, keyed by the operationIds
// of api/openapi.yaml (x-phoenix-service: controller).
func (a *API) Operations() apiv1.Operations {
	return apiv1.Operations{
		"createAdaptivePolicy":  a.create,
		"listAdaptivePolicies":  apiv1.ListOf(a.list, func(p apiv1.AdaptivePolicy) string { return p.ID }),
		"getAdaptivePolicy":     a.get,
		"updateAdaptivePolicy":  a.update,
		"deleteAdaptivePolicy":  a.delete,
		"listAdaptiveDecisions": apiv1.ListOf(a.decisions, func(d apiv1.AdaptiveDecision) string { return d.ID }),
	}
}

// teams is nil for admins (every team), else the caller's teams.
func teams(p apiv1.Principal) []string {
	if p.Admin() {
		return nil
	}
	return append([]string{}, p.Teams...)
}

func (a *API) create(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("adaptive policies"); err != nil {
		return nil, err
	}
	var spec apiv1.AdaptivePolicySpec
	if err := req.DecodeBody(&spec); err != nil {
		return nil, err
	}
	if err := adaptive.CheckSpec(spec); err != nil {
		return nil, err
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "an adaptive policy")
	if err != nil {
		return nil, err
	}
	p, err := a.Store.Create(ctx, team, req.Principal.Subject, spec)
	if err != nil {
		return nil, err
	}
	a.log().Info("adaptive policy created", "policy_id", p.ID, "team", team, "action", spec.Action, "actor", req.Principal.Subject)
	return messaging.StatusReply{Status: http.StatusCreated, Body: p}, nil
}

func (a *API) list(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.AdaptivePolicy, error) {
	ps, err := a.Store.Find(ctx, teams(req.Principal), cursor, n)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.AdaptivePolicy, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out, nil
}

// policy loads a policy the caller may see; other teams' are 404 so their
// existence does not leak.
func (a *API) policy(ctx context.Context, req *apiv1.Request) (*apiv1.AdaptivePolicy, error) {
	id := req.Params["id"]
	p, err := a.Store.Get(ctx, id)
	if errors.Is(err, database.ErrNotFound) || err == nil && !req.Principal.InTeam(p.Team) {
		return nil, problem.NotFound("adaptive policy %s not found", id)
	}
	return p, err
}

func (a *API) get(ctx context.Context, req *apiv1.Request) (any, error) {
	return a.policy(ctx, req)
}

// update replaces the spec. With ?version= (the version read) a change
// made since is a 409 rather than overwritten; without it the last write
// wins.
func (a *API) update(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("adaptive policies"); err != nil {
		return nil, err
	}
	var version int64
	if v := req.Query.Get("version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return nil, problem.BadRequest("invalid update", problem.FieldError{Path: "version",
				Message: "must be the positive version you read"})
		}
		version = n
	}
	var spec apiv1.AdaptivePolicySpec
	if err := req.DecodeBody(&spec); err != nil {
		return nil, err
	}
	if err := adaptive.CheckSpec(spec); err != nil {
		return nil, err
	}
	p, err := a.policy(ctx, req)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = p.Version
	}
	out, err := a.Store.Update(ctx, p.ID, version, spec)
	if err != nil {
		return nil, err
	}
	a.log().Info("adaptive policy updated", "policy_id", p.ID, "version", out.Version, "action", spec.Action, "actor", req.Principal.Subject)
	return out, nil
}

func (a *API) delete(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("adaptive policies"); err != nil {
		return nil, err
	}
	p, err := a.policy(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := a.Store.Delete(ctx, p.ID); err != nil {
		return nil, err
	}
	a.log().Info("adaptive policy deleted", "policy_id", p.ID, "actor", req.Principal.Subject)
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

func (a *API) decisions(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.AdaptiveDecision, error) {
	return a.Store.Decisions(ctx, teams(req.Principal), req.Query.Get("policy"), cursor, n)
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
