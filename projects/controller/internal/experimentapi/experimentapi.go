// Package experimentapi serves /api/v1/experiments over NATS: create, list,
// get and delete experiments, the user actions that move their state
// machine (start, stop, approve, promote, rollback), their transition log
// and their results. It holds no lifecycle logic: every state change is an
// experiment.Store Apply, which refuses illegal events and stale writes, and
// the runner does the rest.
package experimentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// applyAttempts bounds the retries of an action that lost a race with the
// runner: the runner writes often (each phase), and a user's stop should
// not fail because the experiment moved from warming to running meanwhile.
const applyAttempts = 3

// API answers the experiment operations of api/openapi.yaml.
type API struct {
	Store *experiment.Store
	// Pin, when set, resolves the stored pipelines a spec's variants name
	// for the owning team and pins each to its version (a 400 naming the
	// variant when one is not found); nil leaves the spec as written.
	Pin    func(ctx context.Context, team string, e *experiment.Experiment) error
	Logger *slog.Logger // may be nil
}

// Operations is the experiments' REST handler table, keyed by the
// operationIds of api/openapi.yaml (x-phoenix-service: controller).
func (a *API) Operations() apiv1.Operations {
	return apiv1.Operations{
		"createExperiment":   a.create,
		"listExperiments":    apiv1.ListOf(a.list, func(e apiv1.Experiment) string { return e.ID }),
		"getExperiment":      a.get,
		"deleteExperiment":   a.delete,
		"startExperiment":    a.action(actionStart),
		"stopExperiment":     a.action(actionStop),
		"approveExperiment":  a.action(actionApprove),
		"promoteExperiment":  a.action(actionPromote),
		"rollbackExperiment": a.action(actionRollback),
		"listExperimentEvents": apiv1.ListOf(a.events,
			func(t apiv1.ExperimentTransition) string { return strconv.FormatInt(t.Seq, 10) }),
		"getExperimentResults": a.results,
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

// create stores the spec in the body (JSON; the CLI converts YAML) as a
// draft. Parse lists every problem of the spec in one 400.
func (a *API) create(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("experiments"); err != nil {
		return nil, err
	}
	if len(req.Body) == 0 {
		return nil, problem.BadRequest("request body is required: the experiment spec as JSON")
	}
	spec, err := experiment.Parse(req.Body)
	if err != nil {
		return nil, err
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "an experiment")
	if err != nil {
		return nil, err
	}
	if a.Pin != nil {
		if err := a.Pin(ctx, team, spec); err != nil {
			return nil, err
		}
	}
	rec := &experiment.Record{Team: team, Spec: *spec}
	if err := a.Store.Create(ctx, rec, req.Principal.Subject, "created through the API"); err != nil {
		return nil, err
	}
	a.log().Info("experiment created", "experiment", rec.ID, "name", rec.Name(), "team", team, "actor", req.Principal.Subject)
	out, err := wire(rec)
	if err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: http.StatusCreated, Body: out}, nil
}

func (a *API) list(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Experiment, error) {
	f := experiment.Filter{Teams: teams(req.Principal), State: experiment.State(req.Query.Get("state"))}
	if f.State != "" && !f.State.Valid() {
		return nil, problem.BadRequest("invalid state", problem.FieldError{Path: "state", Message: fmt.Sprintf("%q is not an experiment state", f.State)})
	}
	recs, err := a.Store.Find(ctx, f, cursor, n)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.Experiment, 0, len(recs))
	for _, r := range recs {
		w, err := wire(r)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// record loads an experiment the caller may see; other teams' experiments
// are 404 so their existence does not leak.
func (a *API) record(ctx context.Context, req *apiv1.Request) (*experiment.Record, error) {
	id := req.Params["id"]
	r, err := a.Store.Get(ctx, id)
	if errors.Is(err, database.ErrNotFound) || err == nil && !req.Principal.InTeam(r.Team) {
		return nil, problem.NotFound("experiment %s not found", id)
	}
	return r, err
}

func (a *API) get(ctx context.Context, req *apiv1.Request) (any, error) {
	r, err := a.record(ctx, req)
	if err != nil {
		return nil, err
	}
	return wire(r)
}

// delete removes a draft; an experiment that ever started keeps its record
// and log (409).
func (a *API) delete(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("experiments"); err != nil {
		return nil, err
	}
	r, err := a.record(ctx, req)
	if err != nil {
		return nil, err
	}
	if r.State != experiment.Draft {
		return nil, problem.Conflict("experiment %s is %s: only a draft can be deleted (stop it instead)", r.ID, r.State)
	}
	if err := a.Store.Delete(ctx, r.ID, r.Version); err != nil {
		return nil, err
	}
	a.log().Info("experiment deleted", "experiment", r.ID, "actor", req.Principal.Subject)
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

// action is a user's request to move an experiment: the lifecycle event
// it sends and the words the log and the refusal use.
type action struct {
	name   string // as the path says it
	event  experiment.Event
	reason string // the log's reason, after the actor
}

var (
	actionStart    = action{"start", experiment.EvStart, "started"}
	actionStop     = action{"stop", experiment.EvCancel, "stopped"}
	actionApprove  = action{"approve", experiment.EvPromote, "approved the promotion"}
	actionPromote  = action{"promote", experiment.EvPromote, "promoted"}
	actionRollback = action{"rollback", experiment.EvRollback, "rolled back the promotion"}
)

// action makes the handler of one action: a store Apply with the action's
// event at the version just read, retried when the runner wrote in
// between. An event the state does not take is a 409 naming both.
func (a *API) action(act action) apiv1.Handler {
	return func(ctx context.Context, req *apiv1.Request) (any, error) {
		if err := req.Principal.MayWrite("experiments"); err != nil {
			return nil, err
		}
		reason := req.Principal.Subject + " " + act.reason
		for attempt := 1; ; attempt++ {
			r, err := a.record(ctx, req)
			if err != nil {
				return nil, err
			}
			if _, err := experiment.Next(r.State, act.event); err != nil {
				return nil, refused(r, act)
			}
			out, err := a.Store.Apply(ctx, r.ID, r.Version, act.event, req.Principal.Subject, reason, nil)
			if errors.Is(err, experiment.ErrIllegalTransition) {
				// The runner moved it to a state the action does not
				// apply to: answer with the state it is in now.
				if now, gerr := a.Store.Get(ctx, r.ID); gerr == nil {
					r = now
				}
				return nil, refused(r, act)
			}
			if errors.Is(err, database.ErrConflict) && attempt < applyAttempts {
				continue
			}
			if err != nil {
				return nil, err
			}
			a.log().Info("experiment action", "experiment", out.ID, "action", act.name, "from", r.State,
				"to", out.State, "actor", req.Principal.Subject)
			return wire(out)
		}
	}
}

func refused(r *experiment.Record, act action) error {
	return problem.Conflict("experiment %s is %s: %s does not apply in state %s", r.ID, r.State, act.name, r.State).
		Wrap(experiment.ErrIllegalTransition)
}

// events pages the transition log, oldest first; the cursor is the last
// entry's sequence number.
func (a *API) events(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.ExperimentTransition, error) {
	var after int64
	if cursor != "" {
		v, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || v < 1 {
			return nil, apiv1.ErrBadCursor
		}
		after = v
	}
	r, err := a.record(ctx, req)
	if err != nil {
		return nil, err
	}
	ts, err := a.Store.Transitions(ctx, r.ID, after, n)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.ExperimentTransition, len(ts))
	for i, t := range ts {
		out[i] = apiv1.ExperimentTransition{ExperimentID: t.ExperimentID, Seq: t.Seq, From: string(t.From), To: string(t.To),
			Event: string(t.Event), Actor: t.Actor, Reason: t.Reason, At: t.At}
	}
	return out, nil
}

// results answers the verdict once the experiment was analyzed; before
// that there is nothing measured to show (409 naming the state).
func (a *API) results(ctx context.Context, req *apiv1.Request) (any, error) {
	r, err := a.record(ctx, req)
	if err != nil {
		return nil, err
	}
	if r.Results == nil {
		return nil, problem.Conflict("experiment %s is %s: it has no results until it is analyzed", r.ID, r.State)
	}
	return r.Results, nil
}

// wire is a stored experiment as the API answers it.
func wire(r *experiment.Record) (apiv1.Experiment, error) {
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return apiv1.Experiment{}, fmt.Errorf("encode spec of %s: %w", r.ID, err)
	}
	p := r.Progress
	agents := make([]string, len(p.Agents))
	for i, ag := range p.Agents {
		agents[i] = ag.ID
	}
	return apiv1.Experiment{
		ID: r.ID, Name: r.Name(), Team: r.Team, State: string(r.State), Version: r.Version, Spec: spec,
		Progress: apiv1.ExperimentProgress{Agents: agents, PhaseStarted: p.PhaseStarted, WindowFrom: p.WindowFrom,
			WindowTo: p.WindowTo, Restored: p.Restored, RolloutStep: p.RolloutStep, RolloutPausing: p.RolloutPausing,
			Note: p.Note},
		Results: r.Results, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

func (a *API) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
