package experimentrun

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// RolloutRequest asks for one stored pipeline version (Version 0: the
// latest) on every agent of Team matching Selector: all at once, or
// staged in percent Steps with a Pause after each.
type RolloutRequest struct {
	Team       string
	PipelineID string
	Version    int
	Selector   map[string]string
	Strategy   string // all (default) or staged
	Steps      []int
	Pause      time.Duration
	// Critical are label matchers of entities analytics must still
	// receive on Stream ("" = default) after every step.
	Critical []string
	Stream   string
}

// CreateRollout fetches the pipeline version from the generator (it must
// belong to the team) and stores a rolling rollout; the runner takes it
// from there.
func (s *Service) CreateRollout(ctx context.Context, actor string, req RolloutRequest) (*rollout.Record, error) {
	return CreateRollout(ctx, s.bus, s.rollouts, actor, req)
}

// CreateRollout is Service.CreateRollout on a given bus and store, for the
// REST surface, which answers before the service starts.
func CreateRollout(ctx context.Context, bus Requester, store *rollout.Store, actor string, req RolloutRequest) (*rollout.Record, error) {
	var errs []problem.FieldError
	if req.Team == "" {
		errs = append(errs, problem.FieldError{Path: "team", Message: "is required"})
	}
	if req.PipelineID == "" {
		errs = append(errs, problem.FieldError{Path: "pipeline_id", Message: "is required"})
	}
	if len(req.Selector) == 0 {
		errs = append(errs, problem.FieldError{Path: "selector", Message: "must name at least one label"})
	}
	plan := experiment.Rollout{Strategy: req.Strategy, Steps: req.Steps, Pause: experiment.Duration(req.Pause)}
	errs = append(errs, experiment.CheckPlan(&plan)...)
	errs = append(errs, checkCritical(req.Critical, req.Stream)...)
	if len(errs) > 0 {
		return nil, problem.BadRequest("invalid rollout", errs...)
	}
	var pv apiv1.PipelineVersion
	err := bus.Request(ctx, apiv1.SubjectPipelineVersion, apiv1.PipelineVersionRequest{PipelineID: req.PipelineID, Version: req.Version}, &pv)
	if pe := problem.From(err); err != nil && pe.Status == http.StatusNotFound || err == nil && pv.Team != req.Team {
		return nil, problem.NotFound("pipeline %s version %d not found", req.PipelineID, req.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch pipeline %s version %d: %w", req.PipelineID, req.Version, err)
	}
	ro := &rollout.Record{Team: req.Team, Selector: req.Selector, PipelineID: pv.PipelineID, PipelineVersion: pv.Version,
		Config: pv.Config, ConfigHash: fleet.Hash([]byte(pv.Config)), Plan: plan, Critical: req.Critical, Stream: req.Stream}
	if err := store.Create(ctx, ro, actor); err != nil {
		return nil, err
	}
	return ro, nil
}

// GetRollout returns one rollout.
func (s *Service) GetRollout(ctx context.Context, id string) (*rollout.Record, error) {
	return s.rollouts.Get(ctx, id)
}

// AbortRollout stops a rolling rollout read at version; the runner gives
// its agents their previous configs back.
func (s *Service) AbortRollout(ctx context.Context, id string, version int64, actor, reason string) (*rollout.Record, error) {
	return s.rollouts.Abort(ctx, id, version, actor, reason)
}

// streamID is a stream id (ARCHITECTURE.md, Streams).
var streamID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(--[A-Za-z0-9_-]{1,64})?$`)

// checkCritical checks a rollout's critical matchers and stream; analytics
// parses the matchers, so a malformed one fails the first check (and the
// runner logs it) rather than here.
func checkCritical(critical []string, stream string) []problem.FieldError {
	var errs []problem.FieldError
	if len(critical) > experiment.MaxCritical {
		errs = append(errs, problem.FieldError{Path: "critical", Message: fmt.Sprintf("at most %d matchers", experiment.MaxCritical)})
	}
	for i, c := range critical {
		if strings.TrimSpace(c) == "" || len(c) > experiment.MaxExprLen {
			errs = append(errs, problem.FieldError{Path: fmt.Sprintf("critical[%d]", i), Message: fmt.Sprintf("must be a label matcher of 1 to %d bytes", experiment.MaxExprLen)})
		}
	}
	if stream != "" && !streamID.MatchString(stream) {
		errs = append(errs, problem.FieldError{Path: "stream", Message: "must be a stream id (" + streamID.String() + ")"})
	}
	return errs
}

// CriticalChecker is rollout.CriticalChecker over analytics
// (phoenix.analytics.entities).
type CriticalChecker struct {
	Bus Requester
}

var _ rollout.CriticalChecker = (*CriticalChecker)(nil)

// Entities asks analytics which entities of matcher stream received since.
func (c *CriticalChecker) Entities(ctx context.Context, stream, matcher string, keys []string, since time.Time) (apiv1.EntitiesMatch, error) {
	var rep apiv1.EntitiesReply
	err := c.Bus.Request(ctx, apiv1.SubjectAnalyticsEntities, apiv1.EntitiesRequest{
		Stream: stream, Matchers: []string{matcher}, Keys: keys, Since: since.UTC(),
	}, &rep)
	if err != nil {
		return apiv1.EntitiesMatch{}, fmt.Errorf("entities of %s on %s: %w", matcher, stream, err)
	}
	if len(rep.Results) != 1 {
		return apiv1.EntitiesMatch{}, fmt.Errorf("entities of %s on %s: %d results for one matcher", matcher, stream, len(rep.Results))
	}
	return rep.Results[0], nil
}

// RolloutEvents returns a rollout's events, oldest first (at most 1000).
func (s *Service) RolloutEvents(ctx context.Context, id string) ([]rollout.Event, error) {
	return s.rollouts.Events(ctx, id, 1000)
}
