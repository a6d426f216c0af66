package server

import (
	"context"
	"fmt"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/fidelity"
)

// Entities answers which entities a stream received since a time (service
// to service; a stream analytics never saw has none).
func (s *Service) Entities(req apiv1.EntitiesRequest) (apiv1.EntitiesReply, error) {
	var errs []problem.FieldError
	if req.Stream == "" {
		errs = append(errs, problem.FieldError{Path: "stream", Message: "is required"})
	}
	if len(req.Matchers) == 0 || len(req.Matchers) > apiv1.MaxEntityMatchers {
		errs = append(errs, problem.FieldError{Path: "matchers", Message: fmt.Sprintf("1 to %d matchers", apiv1.MaxEntityMatchers)})
	}
	if len(req.Keys) == 0 || len(req.Keys) > apiv1.MaxEntityKeys {
		errs = append(errs, problem.FieldError{Path: "keys", Message: fmt.Sprintf("1 to %d labels identifying an entity", apiv1.MaxEntityKeys)})
	}
	if len(errs) > 0 {
		return apiv1.EntitiesReply{}, problem.BadRequest("invalid entities request", errs...)
	}
	var sn *cardinality.Snapshot
	if st := s.tracker.Stream(req.Stream); st != nil {
		sn = st.SnapshotSince(req.Since)
	}
	res, err := fidelity.Entities(sn, req.Matchers, req.Keys)
	if err != nil {
		return apiv1.EntitiesReply{}, problem.BadRequest(err.Error())
	}
	return apiv1.EntitiesReply{Stream: req.Stream, Since: req.Since, Results: res}, nil
}

func (s *Service) natsEntities(_ context.Context, data []byte) (any, error) {
	var req apiv1.EntitiesRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	return s.Entities(req)
}
