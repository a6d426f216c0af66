package experimentrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// The generator's REST operations this package calls with a REST envelope,
// by the spec's subject rule (ADR 0013).
var (
	SubjectGenerate        = apiv1.Subject("generator", "generatePipeline")
	SubjectPipelinesList   = apiv1.Subject("generator", "listPipelines")
	SubjectPipelinesGet    = apiv1.Subject("generator", "getPipeline")
	SubjectPipelinesCreate = apiv1.Subject("generator", "createPipeline")
)

// maxPipelineScan bounds the pipelines PromotionConfig looks through for
// an earlier promotion of the same experiment.
const maxPipelineScan = 5000

// Configs is experiment.Configs over the generator service. The
// experiment's agents keep their receivers and the collector's own ports
// in every config the runner deploys: they are read from the production
// config of the experiment's first agent (Previous), or, when it has none
// Phoenix knows, taken from Source, TelemetryAddr and HealthAddr. A
// promotion exports where Exporter says.
type Configs struct {
	Bus Requester
	// Previous returns the config an agent ran before the experiment (by
	// its hash); nil uses the fields below.
	Previous      func(ctx context.Context, agentID, hash string) ([]byte, error)
	Source        pipelinegen.Source
	Ingest        string                // Phoenix OTLP/HTTP ingest; "" = the generator's default
	Exporter      *pipelinegen.Exporter // production exporter of a promoted config; nil = the generator's default
	TelemetryAddr string
	HealthAddr    string
}

var _ experiment.Configs = (*Configs)(nil)

// generateResponse is the part of the generator's answer used here.
type generateResponse struct {
	Config string `json:"config"`
}

// pipelineDetail is the part of a stored pipeline used here.
type pipelineDetail struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	Config  string `json:"config"`
}

// ExperimentConfig asks the generator for the fan-out config. The
// generator is deterministic, so a repeated step gets the same bytes.
func (c *Configs) ExperimentConfig(ctx context.Context, r *experiment.Record) ([]byte, error) {
	st, err := c.setup(ctx, r)
	if err != nil {
		return nil, err
	}
	req, err := r.Spec.GeneratorRequest(st.Source, c.Ingest, storedResolver(ctx, c.Bus, r.Team))
	if errors.Is(err, errStoredNotFound) {
		return nil, problem.BadRequest("experiment " + r.Name() + ": " + err.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", r.Name(), err)
	}
	req.TelemetryAddr, req.HealthAddr = st.TelemetryAddr, st.HealthAddr
	var out generateResponse
	if err := c.Bus.Request(ctx, SubjectGenerate, envelope(teamPrincipal(r.Team), nil, req), &out); err != nil {
		return nil, fmt.Errorf("generate the config of experiment %s: %w", r.Name(), err)
	}
	return []byte(out.Config), nil
}

// setup is the receiver side and ports of the experiment's configs: the
// first agent's (by id) production config's, which the record fixes, so
// every repeat of a step builds the same bytes.
func (c *Configs) setup(ctx context.Context, r *experiment.Record) (Setup, error) {
	def := Setup{Source: c.Source, TelemetryAddr: c.TelemetryAddr, HealthAddr: c.HealthAddr}
	if c.Previous == nil {
		return def, nil
	}
	for _, a := range r.Progress.Agents {
		if a.PreviousConfigHash == "" {
			continue
		}
		cfg, err := c.Previous(ctx, a.ID, a.PreviousConfigHash)
		if err != nil {
			return def, fmt.Errorf("production config of %s: %w", a.ID, err)
		}
		st, ok, err := SetupOf(cfg)
		if err != nil {
			return def, problem.BadRequest(fmt.Sprintf("agent %s: %v", a.ID, err))
		}
		if ok {
			return st, nil
		}
		break // the first agent's config decides; one config serves every agent
	}
	return def, nil
}

// PromotionName is the stored pipeline a promotion creates: one per
// experiment and winner (the id suffix keeps a later experiment of the
// same name from reusing it).
func PromotionName(r *experiment.Record, winner string) string {
	return r.Name() + "-" + winner + "-" + strings.TrimPrefix(r.ID, "exp-")
}

func (d *pipelineDetail) promotion() experiment.Promotion {
	return experiment.Promotion{Config: []byte(d.Config), PipelineID: d.ID, PipelineVersion: d.Version}
}

// PromotionConfig stores the winner as a production pipeline of the
// experiment's team, once: a repeated call finds the pipeline it stored
// before and returns that version's config.
func (c *Configs) PromotionConfig(ctx context.Context, r *experiment.Record, winner string) (experiment.Promotion, error) {
	name := PromotionName(r, winner)
	p := teamPrincipal(r.Team)
	if found, err := c.findPipeline(ctx, p, name); err != nil || found != nil {
		if err != nil {
			return experiment.Promotion{}, err
		}
		return found.promotion(), nil
	}
	var v *experiment.Variant
	for i := range r.Spec.Spec.Candidates {
		if r.Spec.Spec.Candidates[i].Name == winner {
			v = &r.Spec.Spec.Candidates[i]
		}
	}
	if v == nil {
		return experiment.Promotion{}, problem.BadRequest(fmt.Sprintf("experiment %s has no candidate %q", r.Name(), winner))
	}
	if v.Pipeline != "" {
		// The winner is a stored version already: the fleet gets exactly
		// it, and nothing new is stored.
		pv, err := resolveStored(ctx, c.Bus, r.Team, v.Pipeline)
		if err != nil {
			return experiment.Promotion{}, fmt.Errorf("stored pipeline %s of candidate %s: %w", v.Pipeline, winner, err)
		}
		return experiment.Promotion{Config: []byte(pv.Config), PipelineID: pv.PipelineID, PipelineVersion: pv.Version}, nil
	}
	st, err := c.setup(ctx, r)
	if err != nil {
		return experiment.Promotion{}, err
	}
	gen := pipelinegen.Request{
		Template: v.Template, Set: v.Set, Strategies: v.Strategies, Source: st.Source,
		Target:        pipelinegen.Target{Kind: pipelinegen.TargetProduction, Exporter: c.Exporter},
		TelemetryAddr: st.TelemetryAddr, HealthAddr: st.HealthAddr,
	}
	body := map[string]any{
		"name": name, "team": r.Team, "generate": gen,
		"description": fmt.Sprintf("candidate %s of experiment %s (%s)", winner, r.Name(), r.ID),
		"reason":      "promoted by experiment " + r.Name() + " (" + r.ID + ")",
	}
	var out pipelineDetail
	if err := c.Bus.Request(ctx, SubjectPipelinesCreate, envelope(p, nil, body), &out); err != nil {
		return experiment.Promotion{}, fmt.Errorf("store the promoted pipeline %s: %w", name, err)
	}
	return out.promotion(), nil
}

// findPipeline returns the team's pipeline named name with its latest
// config, or nil.
func (c *Configs) findPipeline(ctx context.Context, p apiv1.Principal, name string) (*pipelineDetail, error) {
	cursor := ""
	for seen := 0; seen < maxPipelineScan; {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page apiv1.List[pipelineDetail]
		if err := c.Bus.Request(ctx, SubjectPipelinesList, apiv1.Request{Principal: p, Query: q}, &page); err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		for _, it := range page.Items {
			if it.Name != name {
				continue
			}
			var d pipelineDetail
			if err := c.Bus.Request(ctx, SubjectPipelinesGet, apiv1.Request{Principal: p, Params: map[string]string{"id": it.ID}}, &d); err != nil {
				return nil, fmt.Errorf("get pipeline %s: %w", it.ID, err)
			}
			return &d, nil
		}
		seen += len(page.Items)
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	return nil, nil
}

// teamPrincipal acts for team: it sees and owns only that team's objects.
func teamPrincipal(team string) apiv1.Principal {
	return apiv1.Principal{Subject: Actor, Kind: "service", Role: "operator", Teams: []string{team}}
}

// envelope wraps body as the gateway would forward a REST call.
func envelope(p apiv1.Principal, params map[string]string, body any) apiv1.Request {
	req := apiv1.Request{Principal: p, Params: params}
	if body != nil {
		b, err := json.Marshal(body)
		if err == nil {
			req.Body = b
		}
	}
	return req
}
