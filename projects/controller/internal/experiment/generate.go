package experiment

import (
	"fmt"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
)

// Resolver turns a stored pipeline reference (`name` or `name@version`) of
// the experiment's team into that version's collector config (the
// generator's store); the fan-out runs its metrics pipeline's processors.
type Resolver func(ref string) (string, error)

// GeneratorRequest is the generator request for the experiment's fan-out
// config: its ExperimentID is the experiment's name, so analytics routes
// each variant to `<name>--<variant>`. src must be the agents' current
// source (the same receivers as their production config); ingest is
// Phoenix's OTLP/HTTP endpoint ("" for the generator's default). Variants
// naming a stored pipeline are resolved with resolve; a nil resolve
// refuses them.
func (e *Experiment) GeneratorRequest(src pipelinegen.Source, ingest string, resolve Resolver) (pipelinegen.Request, error) {
	req := pipelinegen.Request{Source: src, Target: pipelinegen.Target{
		Kind: pipelinegen.TargetExperiment, ExperimentID: e.Metadata.Name, IngestEndpoint: ingest,
	}}
	base, err := generatorVariant(e.Spec.Baseline, BaselineVariant, resolve)
	if err != nil {
		return req, fmt.Errorf("baseline: %w", err)
	}
	req.Target.Baseline = &base
	for _, c := range e.Spec.Candidates {
		v, err := generatorVariant(c, c.Name, resolve)
		if err != nil {
			return req, fmt.Errorf("candidate %s: %w", c.Name, err)
		}
		req.Target.Candidates = append(req.Target.Candidates, v)
	}
	return req, nil
}

// generatorVariant is one variant as the generator takes it.
func generatorVariant(v Variant, name string, resolve Resolver) (pipelinegen.Variant, error) {
	out := pipelinegen.Variant{Name: name, Template: v.Template, Set: v.Set, Strategies: v.Strategies}
	if v.Pipeline == "" {
		return out, nil
	}
	if resolve == nil {
		return out, fmt.Errorf("stored pipeline %s: no resolver for stored pipelines", v.Pipeline)
	}
	cfg, err := resolve(v.Pipeline)
	if err != nil {
		return out, fmt.Errorf("stored pipeline %s: %w", v.Pipeline, err)
	}
	out.Config = cfg
	return out, nil
}
