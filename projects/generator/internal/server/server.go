// Package server is the generator service: the NATS endpoints behind the
// gateway's /api/v1/pipelines and /api/v1/recommendations routes, and the
// pipeline-version contract the controller deploys from.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/recommend"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/store"
)

// Validator checks a config with the collector.
type Validator interface {
	Validate(ctx context.Context, config []byte) ([]problem.FieldError, error)
	Available() (bool, string)
}

// Server holds the generator's dependencies.
type Server struct {
	Store     *store.Store
	Bus       *messaging.Bus
	Validator Validator
	Analytics recommend.Analytics
	Logger    *slog.Logger
}

// Operations is the generator's REST handler table, keyed by the
// operationIds of api/openapi.yaml (x-phoenix-service: generator).
func (s *Server) Operations() apiv1.Operations {
	return apiv1.Operations{
		"listPipelineTemplates":       s.templates,
		"generatePipeline":            s.generate,
		"validatePipeline":            s.validate,
		"listPipelines":               apiv1.ListOf(s.listPipelines, store.Cursor),
		"createPipeline":              s.createPipeline,
		"getPipeline":                 s.getPipeline,
		"updatePipeline":              s.updatePipeline,
		"deletePipeline":              s.deletePipeline,
		"listPipelineVersions":        apiv1.ListOf(s.listVersions, func(v apiv1.PipelineVersion) string { return strconv.Itoa(v.Version) }),
		"getPipelineVersion":          s.getVersion,
		"diffPipelineVersions":        s.diff,
		"getRecommendations":          s.recommendations,
		"getRecommendationsWithUsage": s.recommendations,
	}
}

// Endpoints lists the NATS endpoints: the REST operations and the
// pipeline-version contract other services call.
func (s *Server) Endpoints() []messaging.Endpoint {
	return append(s.Operations().Endpoints(config.ServiceGenerator),
		messaging.Endpoint{Name: "pipeline_version", Subject: apiv1.SubjectPipelineVersion, Handler: s.pipelineVersion})
}

func (s *Server) templates(_ context.Context, _ *apiv1.Request) (any, error) {
	return apiv1.List[pipelinegen.Template]{Items: pipelinegen.Templates()}, nil
}

// GenerateResponse is the answer of POST /api/v1/pipelines/generate.
type GenerateResponse struct {
	Config                 string                            `json:"config"`
	ConfigHash             string                            `json:"config_hash"`
	Pipelines              map[string][]pipelinegen.Strategy `json:"pipelines"`
	Validated              *bool                             `json:"validated"`
	ValidatedUnknownReason string                            `json:"validated_unknown_reason,omitempty"`
}

func (s *Server) generate(ctx context.Context, req *apiv1.Request) (any, error) {
	var gr pipelinegen.Request
	if err := req.DecodeBody(&gr); err != nil {
		return nil, err
	}
	ctx = pipelinegen.WithCaller(ctx, req.Principal.Subject, req.Principal.Role) // per-caller validation limit
	return s.generateAndValidate(ctx, gr)
}

func (s *Server) generateAndValidate(ctx context.Context, gr pipelinegen.Request) (*GenerateResponse, error) {
	res, err := pipelinegen.Generate(gr)
	if err != nil {
		return nil, err
	}
	out := &GenerateResponse{Config: string(res.Config), ConfigHash: res.ConfigHash, Pipelines: res.Variants}
	if err := refuseProviders(res.Config, "target.exporter.config"); err != nil {
		return nil, err
	}
	errs, err := s.Validator.Validate(ctx, res.Config)
	switch {
	case errors.Is(err, pipelinegen.ErrNoCollector):
		out.ValidatedUnknownReason = err.Error()
	case err != nil:
		return nil, fmt.Errorf("validate generated config: %w", err)
	case len(errs) > 0:
		return nil, problem.BadRequest("the collector rejects the generated config", errs...)
	default:
		ok := true
		out.Validated = &ok
	}
	return out, nil
}

// ValidateRequest is the body of POST /api/v1/pipelines/validate.
type ValidateRequest struct {
	Config string `json:"config"`
}

// ValidateResponse answers a valid config.
type ValidateResponse struct {
	Valid      bool   `json:"valid"`
	ConfigHash string `json:"config_hash"`
}

// MaxConfigBytes bounds a stored or validated config.
const MaxConfigBytes = 1 << 20

func (s *Server) validate(ctx context.Context, req *apiv1.Request) (any, error) {
	var vr ValidateRequest
	if err := req.DecodeBody(&vr); err != nil {
		return nil, err
	}
	ctx = pipelinegen.WithCaller(ctx, req.Principal.Subject, req.Principal.Role) // per-caller validation limit
	if err := s.checkConfig(ctx, vr.Config, "config"); err != nil {
		return nil, err
	}
	return ValidateResponse{Valid: true, ConfigHash: pipelinegen.Hash([]byte(vr.Config))}, nil
}

// checkConfig parses and validates a config with the collector. A config
// that cannot be validated (no collector) is refused with 503: a stored
// version is always a validated one.
func (s *Server) checkConfig(ctx context.Context, config, path string) error {
	if strings.TrimSpace(config) == "" {
		return problem.BadRequest("config is required", problem.FieldError{Path: path, Message: "must be a collector config (YAML)"})
	}
	if len(config) > MaxConfigBytes {
		return problem.BadRequest("config too large", problem.FieldError{Path: path, Message: fmt.Sprintf("at most %d bytes", MaxConfigBytes)})
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		return problem.BadRequest("config is not YAML", problem.FieldError{Path: path, Message: err.Error()})
	}
	if doc == nil {
		return problem.BadRequest("config is empty", problem.FieldError{Path: path, Message: "must be a YAML mapping"})
	}
	if err := refuseProviders([]byte(config), path); err != nil {
		return err
	}
	errs, err := s.Validator.Validate(ctx, []byte(config))
	if errors.Is(err, pipelinegen.ErrNoCollector) {
		return problem.Unavailable(time.Minute, "cannot validate configs: %v", err).Wrap(err)
	}
	if err != nil {
		return fmt.Errorf("validate config: %w", err)
	}
	if len(errs) > 0 {
		return problem.BadRequest("the collector rejects the config", errs...)
	}
	return nil
}

// refuseProviders rejects ${file:...}, ${http(s):...} and other non-env
// provider references: validating them would make the collector read files
// or fetch URLs for the caller and echo the content in its errors.
func refuseProviders(config []byte, path string) error {
	refs := pipelinegen.ForeignProviderRefs(config)
	if len(refs) == 0 {
		return nil
	}
	return problem.BadRequest("config provider references are not allowed", problem.FieldError{
		Path:    path,
		Message: fmt.Sprintf("references ${%s:...}: only ${env:...} is allowed (validated with an empty environment)", refs[0]),
	})
}

// CreatePipelineRequest is the body of POST /api/v1/pipelines: a config, or
// a generate request whose output is stored.
type CreatePipelineRequest struct {
	Name        string               `json:"name"`
	Description string               `json:"description,omitempty"`
	Team        string               `json:"team,omitempty"`
	Reason      string               `json:"reason,omitempty"`
	Config      string               `json:"config,omitempty"`
	Generate    *pipelinegen.Request `json:"generate,omitempty"`
}

// UpdatePipelineRequest is the body of PUT /api/v1/pipelines/{id}: a new
// version. Version, when set, must be the latest (optimistic concurrency).
type UpdatePipelineRequest struct {
	Name        *string              `json:"name,omitempty"`
	Description *string              `json:"description,omitempty"`
	Reason      string               `json:"reason,omitempty"`
	Config      string               `json:"config,omitempty"`
	Generate    *pipelinegen.Request `json:"generate,omitempty"`
	Version     int                  `json:"version,omitempty"`
}

const (
	maxNameLen   = 128
	maxTextLen   = 4096
	defaultTeam  = "default"
	eventVersion = "version_created"
)

// configFrom resolves a body's config or generate request.
func (s *Server) configFrom(ctx context.Context, config string, gen *pipelinegen.Request) (string, string, error) {
	switch {
	case config != "" && gen != nil:
		return "", "", problem.BadRequest("set config or generate, not both", problem.FieldError{Path: "generate", Message: "set config or generate, not both"})
	case gen != nil:
		res, err := s.generateAndValidate(ctx, *gen)
		if err != nil {
			var p *problem.Error
			if errors.As(err, &p) {
				for i := range p.Errors {
					if !strings.Contains(p.Errors[i].Path, "::") {
						p.Errors[i].Path = "generate." + p.Errors[i].Path
					}
				}
			}
			return "", "", err
		}
		if res.Validated == nil {
			return "", "", problem.Unavailable(time.Minute, "cannot validate configs: %s", res.ValidatedUnknownReason)
		}
		reqJSON, _ := json.Marshal(gen)
		return res.Config, string(reqJSON), nil
	default:
		if err := s.checkConfig(ctx, config, "config"); err != nil {
			return "", "", err
		}
		return config, "", nil
	}
}

func checkText(name, desc, reason string) error {
	var errs []problem.FieldError
	if len(name) > maxNameLen {
		errs = append(errs, problem.FieldError{Path: "name", Message: fmt.Sprintf("at most %d characters", maxNameLen)})
	}
	if len(desc) > maxTextLen {
		errs = append(errs, problem.FieldError{Path: "description", Message: fmt.Sprintf("at most %d characters", maxTextLen)})
	}
	if len(reason) > maxTextLen {
		errs = append(errs, problem.FieldError{Path: "reason", Message: fmt.Sprintf("at most %d characters", maxTextLen)})
	}
	if len(errs) > 0 {
		return problem.BadRequest("invalid pipeline", errs...)
	}
	return nil
}

// ownerTeam picks the team a new pipeline belongs to: the requested one
// (which the caller must be in), else the caller's first team; admins
// without teams own under "default".
func ownerTeam(p apiv1.Principal, requested string) (string, error) {
	if requested != "" {
		if !p.InTeam(requested) {
			return "", problem.Forbidden("you are not a member of team %q", requested)
		}
		return requested, nil
	}
	if len(p.Teams) > 0 {
		return p.Teams[0], nil
	}
	if p.Admin() {
		return defaultTeam, nil
	}
	return "", problem.Forbidden("you belong to no team, so you cannot own a pipeline")
}

func (s *Server) createPipeline(ctx context.Context, req *apiv1.Request) (any, error) {
	var cr CreatePipelineRequest
	if err := req.DecodeBody(&cr); err != nil {
		return nil, err
	}
	cr.Name = strings.TrimSpace(cr.Name)
	if cr.Name == "" {
		return nil, problem.BadRequest("name is required", problem.FieldError{Path: "name", Message: "is required"})
	}
	if err := checkText(cr.Name, cr.Description, cr.Reason); err != nil {
		return nil, err
	}
	team, err := ownerTeam(req.Principal, cr.Team)
	if err != nil {
		return nil, err
	}
	config, genJSON, err := s.configFrom(ctx, cr.Config, cr.Generate)
	if err != nil {
		return nil, err
	}
	p, v, err := s.Store.Create(ctx,
		store.Pipeline{Name: cr.Name, Description: cr.Description, Team: team, CreatedBy: req.Principal.Subject},
		store.Version{Config: config, ConfigHash: pipelinegen.Hash([]byte(config)), Request: genJSON, Reason: cr.Reason})
	if err != nil {
		return nil, storeErr(err)
	}
	s.publish(ctx, p, v)
	return messaging.StatusReply{Status: http.StatusCreated, Body: detail(p, v)}, nil
}

func detail(p store.Pipeline, v store.Version) apiv1.PipelineDetail {
	return apiv1.PipelineDetail{Pipeline: p, Config: v.Config, ConfigHash: v.ConfigHash, Reason: v.Reason}
}

// publish announces a new version; a failure is logged, not returned: the
// version is stored and readable whatever happens to the event.
func (s *Server) publish(ctx context.Context, p store.Pipeline, v store.Version) {
	if s.Bus == nil {
		return
	}
	err := s.Bus.PublishEvent(ctx, messaging.KindPipeline, p.ID, eventVersion, map[string]any{
		"pipeline_id": p.ID, "name": p.Name, "team": p.Team, "version": v.Version,
		"config_hash": v.ConfigHash, "created_by": v.CreatedBy, "reason": v.Reason,
	})
	if err != nil {
		s.Logger.Warn("pipeline event not published", "pipeline_id", p.ID, "version", v.Version, "error", err)
	}
}

// visible loads a pipeline the caller may see; other teams' pipelines are
// 404 so their existence does not leak.
func (s *Server) visible(ctx context.Context, req *apiv1.Request) (store.Pipeline, error) {
	id := req.Params["id"]
	p, err := s.Store.Get(ctx, id)
	if err != nil {
		return store.Pipeline{}, storeErr(err)
	}
	if !req.Principal.InTeam(p.Team) {
		return store.Pipeline{}, problem.NotFound("pipeline %s not found", id)
	}
	return p, nil
}

func (s *Server) getPipeline(ctx context.Context, req *apiv1.Request) (any, error) {
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := s.Store.Version(ctx, p.ID, p.Version)
	if err != nil {
		return nil, storeErr(err)
	}
	return detail(p, v), nil
}

func (s *Server) listPipelines(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]store.Pipeline, error) {
	var teams []string
	if !req.Principal.Admin() {
		teams = append([]string{}, req.Principal.Teams...)
	}
	// The store pages too (it reads one row more to set its own next
	// cursor); Paginate asks for limit+1 and keeps the list contract here.
	items, _, err := s.Store.List(ctx, teams, n, cursor)
	if err != nil {
		return nil, storeErr(err)
	}
	return items, nil
}

func (s *Server) updatePipeline(ctx context.Context, req *apiv1.Request) (any, error) {
	var ur UpdatePipelineRequest
	if err := req.DecodeBody(&ur); err != nil {
		return nil, err
	}
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	name, desc := p.Name, p.Description
	if ur.Name != nil {
		name = strings.TrimSpace(*ur.Name)
		if name == "" {
			return nil, problem.BadRequest("name must not be empty", problem.FieldError{Path: "name", Message: "must not be empty"})
		}
		ur.Name = &name
	}
	if ur.Description != nil {
		desc = *ur.Description
	}
	if err := checkText(name, desc, ur.Reason); err != nil {
		return nil, err
	}
	if ur.Config == "" && ur.Generate == nil {
		return nil, problem.BadRequest("a new version needs config or generate", problem.FieldError{Path: "config", Message: "set config or generate"})
	}
	if ur.Version < 0 {
		return nil, problem.BadRequest("invalid version", problem.FieldError{Path: "version", Message: "must be positive"})
	}
	config, genJSON, err := s.configFrom(ctx, ur.Config, ur.Generate)
	if err != nil {
		return nil, err
	}
	p, v, err := s.Store.AddVersion(ctx, p.ID, ur.Version, store.Update{Name: ur.Name, Description: ur.Description}, store.Version{
		Config: config, ConfigHash: pipelinegen.Hash([]byte(config)), Request: genJSON, Reason: ur.Reason, CreatedBy: req.Principal.Subject,
	})
	if err != nil {
		return nil, storeErr(err)
	}
	s.publish(ctx, p, v)
	return detail(p, v), nil
}

func (s *Server) deletePipeline(ctx context.Context, req *apiv1.Request) (any, error) {
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Delete(ctx, p.ID); err != nil {
		return nil, storeErr(err)
	}
	if s.Bus != nil {
		if err := s.Bus.PublishEvent(ctx, messaging.KindPipeline, p.ID, "deleted", map[string]any{"pipeline_id": p.ID, "team": p.Team, "deleted_by": req.Principal.Subject}); err != nil {
			s.Logger.Warn("pipeline event not published", "pipeline_id", p.ID, "error", err)
		}
	}
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

func (s *Server) listVersions(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.PipelineVersion, error) {
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	vs, _, err := s.Store.Versions(ctx, p.ID, n, cursor)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]apiv1.PipelineVersion, len(vs))
	for i, v := range vs {
		out[i] = version(p, v)
	}
	return out, nil
}

// version is a stored version as it crosses the wire.
func version(p store.Pipeline, v store.Version) apiv1.PipelineVersion {
	return apiv1.PipelineVersion{
		PipelineID: p.ID, Name: p.Name, Version: v.Version, Team: p.Team, Config: v.Config, ConfigHash: v.ConfigHash,
		CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt, Reason: v.Reason,
	}
}

func parseVersion(s, path string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, problem.BadRequest("invalid version", problem.FieldError{Path: path, Message: "must be a positive integer"})
	}
	return n, nil
}

func (s *Server) getVersion(ctx context.Context, req *apiv1.Request) (any, error) {
	n, err := parseVersion(req.Params["version"], "version")
	if err != nil {
		return nil, err
	}
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := s.Store.Version(ctx, p.ID, n)
	if err != nil {
		return nil, storeErr(err)
	}
	return version(p, v), nil
}

func (s *Server) diff(ctx context.Context, req *apiv1.Request) (any, error) {
	p, err := s.visible(ctx, req)
	if err != nil {
		return nil, err
	}
	to := p.Version
	if q := req.Query.Get("to"); q != "" {
		if to, err = parseVersion(q, "to"); err != nil {
			return nil, err
		}
	}
	from := to - 1
	if q := req.Query.Get("from"); q != "" {
		if from, err = parseVersion(q, "from"); err != nil {
			return nil, err
		}
	}
	if from < 1 {
		return nil, problem.BadRequest("nothing to compare: version 1 has no predecessor", problem.FieldError{Path: "from", Message: "set from"})
	}
	a, err := s.Store.Version(ctx, p.ID, from)
	if err != nil {
		return nil, storeErr(err)
	}
	b, err := s.Store.Version(ctx, p.ID, to)
	if err != nil {
		return nil, storeErr(err)
	}
	return apiv1.PipelineDiff{
		PipelineID: p.ID, From: from, To: to,
		Diff: pipelinegen.UnifiedDiff(fmt.Sprintf("%s@v%d", p.ID, from), fmt.Sprintf("%s@v%d", p.ID, to), a.Config, b.Config),
	}, nil
}

// pipelineVersion answers the controller (service to service, trusted).
func (s *Server) pipelineVersion(ctx context.Context, data []byte) (any, error) {
	var req apiv1.PipelineVersionRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	if req.PipelineID == "" || req.Version < 0 {
		return nil, problem.BadRequest("pipeline_id is required and version must be 0 (latest) or positive")
	}
	p, err := s.Store.Get(ctx, req.PipelineID)
	if err != nil {
		return nil, storeErr(err)
	}
	v, err := s.Store.Version(ctx, p.ID, req.Version)
	if err != nil {
		return nil, storeErr(err)
	}
	return version(p, v), nil
}

func storeErr(err error) error {
	switch {
	case errors.Is(err, database.ErrNotFound):
		return problem.NotFound("not found")
	case errors.Is(err, database.ErrConflict):
		return problem.Conflict("the pipeline changed since you read it: fetch it and retry").Wrap(err)
	case errors.Is(err, store.ErrDuplicateName):
		return problem.Conflict("a pipeline with this name exists in the team").Wrap(err)
	case errors.Is(err, store.ErrBadCursor):
		return problem.BadRequest("invalid cursor", problem.FieldError{Path: "cursor", Message: "use next_cursor from a previous page"})
	}
	return err
}
