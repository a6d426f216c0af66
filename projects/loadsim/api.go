package loadsim

import (
	"context"
	"net/http"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Operations is loadsim's REST handler table, keyed by the operationIds of
// api/openapi.yaml (x-phoenix-service: loadsim).
func (s *Service) Operations() apiv1.Operations {
	return apiv1.Operations{
		"startLoadsim": s.start,
		"listLoadsim":  apiv1.ListOf(s.list, simulationCursor),
		"getLoadsim":   s.get,
		"stopLoadsim":  s.stop,
	}
}

func (s *Service) start(_ context.Context, req *apiv1.Request) (any, error) {
	var body loadgen.StartRequest
	if err := req.DecodeBody(&body); err != nil {
		return nil, err
	}
	info, err := s.m.Start(req.Principal, body)
	if err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: http.StatusCreated, Body: info}, nil
}

// list pages the caller's simulations, newest first. The list is bounded by
// the history size (64 by default), so it is read whole and the cursor is
// the id of the last simulation of the previous page.
func (s *Service) list(_ context.Context, req *apiv1.Request, cursor string, n int) ([]loadgen.SimulationInfo, error) {
	return apiv1.After(s.m.List(req.Principal), cursor, n, simulationCursor)
}

func simulationCursor(si loadgen.SimulationInfo) string { return si.ID }

func simulationID(req *apiv1.Request) (string, error) {
	id := strings.TrimSpace(req.Params["id"])
	if id == "" || len(id) > 64 {
		return "", problem.BadRequest("invalid simulation id", problem.FieldError{Path: "id", Message: "required, at most 64 characters"})
	}
	return id, nil
}

func (s *Service) get(_ context.Context, req *apiv1.Request) (any, error) {
	id, err := simulationID(req)
	if err != nil {
		return nil, err
	}
	return s.m.Get(req.Principal, id)
}

func (s *Service) stop(ctx context.Context, req *apiv1.Request) (any, error) {
	id, err := simulationID(req)
	if err != nil {
		return nil, err
	}
	return s.m.Stop(ctx, req.Principal, id)
}
