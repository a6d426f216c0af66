package anomalydetector

import (
	"context"
	"errors"
	"slices"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

// Operations is the detector's REST table (api/openapi.yaml, x-phoenix-service
// anomaly-detector). Viewers read, operators act (the gateway enforces the
// roles); an alert of another team is 404.
func (s *Service) Operations() apiv1.Operations {
	ops := apiv1.Operations{
		"listAlerts":       apiv1.ListOf(s.fetchAlerts, func(a apiv1.Alert) string { return a.ID }),
		"getAlert":         s.getAlert,
		"acknowledgeAlert": s.ackAlert,
		"resolveAlert":     s.resolveAlert,
		"listAnomalies":    apiv1.ListOf(s.fetchAnomalies, anomalyCursor),
	}
	for id, h := range s.alertingOperations() {
		ops[id] = h
	}
	return ops
}

var alertStates = []string{apiv1.AlertFiring, apiv1.AlertAcknowledged, apiv1.AlertResolved}

func (s *Service) fetchAlerts(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Alert, error) {
	f := store.Filter{State: req.Query.Get("state"), Stream: req.Query.Get("stream"), Group: req.Query.Get("group"), RuleID: req.Query.Get("rule_id")}
	if f.State != "" && !slices.Contains(alertStates, f.State) {
		return nil, problem.BadRequest("invalid state", problem.FieldError{Path: "state", Message: "must be firing, acknowledged or resolved"})
	}
	if !req.Principal.Admin() {
		f.Teams = append([]string{}, req.Principal.Teams...)
	}
	return s.store.List(ctx, f, cursor, n)
}

// visibleAlert loads an alert the caller may see: 404 for a missing one and
// for another team's alike, so the answer reveals nothing.
func (s *Service) visibleAlert(ctx context.Context, req *apiv1.Request) (apiv1.Alert, error) {
	id := req.Params["id"]
	a, err := s.store.Get(ctx, id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && !req.Principal.InTeam(a.Team)) {
		return apiv1.Alert{}, problem.NotFound("alert %s not found", id)
	}
	return a, err
}

func (s *Service) getAlert(ctx context.Context, req *apiv1.Request) (any, error) {
	return s.visibleAlert(ctx, req)
}

func (s *Service) ackAlert(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("alerts"); err != nil {
		return nil, err
	}
	a, err := s.visibleAlert(ctx, req)
	if err != nil {
		return nil, err
	}
	a, changed, err := s.store.Acknowledge(ctx, a.ID, req.Principal.Subject, s.now())
	if errors.Is(err, store.ErrState) {
		return nil, problem.Conflict("alert %s is resolved; only firing alerts can be acknowledged", a.ID)
	}
	if err != nil {
		return nil, err
	}
	if changed {
		if err := s.publish(ctx, EventAcknowledged, a); err != nil {
			s.log.Warn("publish alert event failed", "alert_id", a.ID, "error", err)
		}
	}
	return a, nil
}

func (s *Service) resolveAlert(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("alerts"); err != nil {
		return nil, err
	}
	a, err := s.visibleAlert(ctx, req)
	if err != nil {
		return nil, err
	}
	a, err = s.resolve(ctx, a.ID, req.Principal.Subject)
	if err != nil && a.ID != "" && a.State == apiv1.AlertResolved {
		// Stored but not published: the answer is still the truth.
		s.log.Warn("publish alert event failed", "alert_id", a.ID, "error", err)
		return a, nil
	}
	return a, err
}
