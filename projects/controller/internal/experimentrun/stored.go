package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// errStoredNotFound: no pipeline of the team has that name or id, or it
// has no such version.
var errStoredNotFound = errors.New("not found in the experiment's team")

// resolveStored fetches the version a variant's `pipeline` names: a
// pipeline id or a name of team's pipelines, optionally @version (default:
// the latest). Another team's pipeline is not found.
func resolveStored(ctx context.Context, bus Requester, team, ref string) (apiv1.PipelineVersion, error) {
	name, ver, hasVer := strings.Cut(ref, "@")
	version := 0
	if hasVer {
		n, err := strconv.Atoi(ver)
		if err != nil || n < 1 {
			return apiv1.PipelineVersion{}, fmt.Errorf("version %q must be a positive integer", ver)
		}
		version = n
	}
	get := func(id string) (apiv1.PipelineVersion, bool, error) {
		var pv apiv1.PipelineVersion
		err := bus.Request(ctx, apiv1.SubjectPipelineVersion, apiv1.PipelineVersionRequest{PipelineID: id, Version: version}, &pv)
		var p *problem.Error
		if errors.As(err, &p) && p.Status == http.StatusNotFound || err == nil && pv.Team != team {
			return pv, false, nil
		}
		if err != nil {
			return pv, false, fmt.Errorf("fetch pipeline %s: %w", ref, err)
		}
		return pv, true, nil
	}
	// An id first (what a pinned reference names), then a name.
	if pv, ok, err := get(name); err != nil || ok {
		return pv, err
	}
	found, err := (&Configs{Bus: bus}).findPipeline(ctx, teamPrincipal(team), name)
	if err != nil {
		return apiv1.PipelineVersion{}, err
	}
	if found != nil {
		if pv, ok, err := get(found.ID); err != nil || ok {
			return pv, err
		}
	}
	return apiv1.PipelineVersion{}, errStoredNotFound
}

// PinStored resolves every stored pipeline a spec's variants name, for
// team, and pins each to `<pipeline id>@<version>`: the experiment then
// runs (and repeats, after a crash) exactly the version it was created
// with, even when the pipeline gets a newer one. A reference that names
// nothing of the team is a 400 with the variant's path.
func PinStored(ctx context.Context, bus Requester, team string, e *experiment.Experiment) error {
	var errs []problem.FieldError
	pin := func(v *experiment.Variant, path string) error {
		if v.Pipeline == "" {
			return nil
		}
		pv, err := resolveStored(ctx, bus, team, v.Pipeline)
		if errors.Is(err, errStoredNotFound) {
			errs = append(errs, problem.FieldError{Path: path + ".pipeline",
				Message: fmt.Sprintf("stored pipeline %s not found in team %s", v.Pipeline, team)})
			return nil
		}
		if err != nil {
			var p *problem.Error
			if errors.As(err, &p) && p.Status < http.StatusInternalServerError || !errors.As(err, &p) && strings.Contains(err.Error(), "version") {
				errs = append(errs, problem.FieldError{Path: path + ".pipeline", Message: err.Error()})
				return nil
			}
			return err
		}
		v.Pipeline = pv.PipelineID + "@" + strconv.Itoa(pv.Version)
		return nil
	}
	if err := pin(&e.Spec.Baseline, "spec.baseline"); err != nil {
		return err
	}
	for i := range e.Spec.Candidates {
		if err := pin(&e.Spec.Candidates[i], fmt.Sprintf("spec.candidates[%d]", i)); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return problem.BadRequest("invalid experiment spec", errs...)
	}
	return nil
}

// storedResolver resolves stored pipeline references of team for the
// generator request (experiment.Resolver).
func storedResolver(ctx context.Context, bus Requester, team string) experiment.Resolver {
	return func(ref string) (string, error) {
		pv, err := resolveStored(ctx, bus, team, ref)
		if err != nil {
			return "", err
		}
		return pv.Config, nil
	}
}
