package server

import (
	"context"
	"fmt"
	"regexp"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/usage"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/recommend"
)

// RecommendationsRequest is the body of POST /api/v1/recommendations:
// uploads of dashboards and rule files (GET takes only ?stream=&model=).
type RecommendationsRequest struct {
	Stream     string         `json:"stream,omitempty"`
	Model      string         `json:"model,omitempty"`
	Dashboards []UploadedFile `json:"dashboards,omitempty"`
	Rules      []UploadedFile `json:"rules,omitempty"`
}

// UploadedFile is one dashboard (JSON) or rule file (YAML).
type UploadedFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// MaxUploads bounds the files in one request.
const MaxUploads = 500

var (
	reStreamPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reModel      = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

func validStream(s string) bool {
	if reStreamPart.MatchString(s) {
		return true
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '-' {
			return reStreamPart.MatchString(s[:i]) && reStreamPart.MatchString(s[i+2:])
		}
	}
	return false
}

func (s *Server) recommendations(ctx context.Context, req *apiv1.Request) (any, error) {
	var rr RecommendationsRequest
	if len(req.Body) > 0 {
		if err := req.DecodeBody(&rr); err != nil {
			return nil, err
		}
	}
	if q := req.Query.Get("stream"); q != "" {
		rr.Stream = q
	}
	if q := req.Query.Get("model"); q != "" {
		rr.Model = q
	}
	if rr.Stream == "" {
		rr.Stream = apiv1.DefaultStream
	}
	if !validStream(rr.Stream) {
		return nil, problem.BadRequest("invalid stream", problem.FieldError{Path: "stream", Message: "must match ^[A-Za-z0-9_-]{1,64}$ or <experiment>--<variant>"})
	}
	if rr.Model != "" && !reModel.MatchString(rr.Model) {
		return nil, problem.BadRequest("invalid model", problem.FieldError{Path: "model", Message: "must name a price model such as datadog or self-hosted"})
	}
	if len(rr.Dashboards)+len(rr.Rules) > MaxUploads {
		return nil, problem.BadRequest(fmt.Sprintf("at most %d files", MaxUploads))
	}
	var set *usage.Set
	if len(rr.Dashboards)+len(rr.Rules) > 0 {
		set = usage.NewSet()
		var errs []problem.FieldError
		for i, f := range rr.Dashboards {
			if err := set.AddDashboard(f.Name, []byte(f.Content)); err != nil {
				errs = append(errs, problem.FieldError{Path: fmt.Sprintf("dashboards[%d]", i), Message: err.Error()})
			}
		}
		for i, f := range rr.Rules {
			if err := set.AddRules(f.Name, []byte(f.Content)); err != nil {
				errs = append(errs, problem.FieldError{Path: fmt.Sprintf("rules[%d]", i), Message: err.Error()})
			}
		}
		if len(errs) > 0 {
			return nil, problem.BadRequest("unreadable dashboards or rules", errs...)
		}
	}
	rep, err := s.Analytics.Cardinality(ctx, apiv1.CardinalityRequest{Stream: rr.Stream})
	if err != nil {
		return nil, err
	}
	if !req.Principal.InTeam(rep.Team) {
		return nil, problem.NotFound("stream %s not found", rr.Stream)
	}
	return recommend.Recommend(ctx, s.Analytics, recommend.Input{Report: rep, Usage: set, Model: rr.Model})
}

// BusAnalytics asks the analytics service over NATS.
type BusAnalytics struct{ Bus *messaging.Bus }

// Cardinality implements recommend.Analytics.
func (b BusAnalytics) Cardinality(ctx context.Context, req apiv1.CardinalityRequest) (*apiv1.CardinalityReport, error) {
	var out apiv1.CardinalityReport
	if err := b.Bus.Request(ctx, apiv1.SubjectAnalyticsCardinality, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Estimate implements recommend.Analytics.
func (b BusAnalytics) Estimate(ctx context.Context, req apiv1.EstimateRequest) (*apiv1.EstimateReply, error) {
	var out apiv1.EstimateReply
	if err := b.Bus.Request(ctx, apiv1.SubjectAnalyticsEstimate, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cost implements recommend.Analytics.
func (b BusAnalytics) Cost(ctx context.Context, req apiv1.CostRequest) (*apiv1.CostReport, error) {
	var out apiv1.CostReport
	if err := b.Bus.Request(ctx, apiv1.SubjectAnalyticsCost, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
