package experimentrun

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// pipelinesBus is the generator's stored pipelines as the controller asks
// for them: the version contract and the team's list.
type pipelinesBus struct {
	versions map[string][]apiv1.PipelineVersion // id -> versions 1..n
}

func (b *pipelinesBus) Request(_ context.Context, subject string, req, resp any) error {
	var out any
	switch subject {
	case apiv1.SubjectPipelineVersion:
		r := req.(apiv1.PipelineVersionRequest)
		vs := b.versions[r.PipelineID]
		v := r.Version
		if v == 0 {
			v = len(vs)
		}
		if v < 1 || v > len(vs) {
			return problem.NotFound("not found")
		}
		out = vs[v-1]
	case SubjectPipelinesList:
		r := req.(apiv1.Request)
		var page apiv1.List[pipelineDetail]
		for id, vs := range b.versions {
			if r.Principal.InTeam(vs[0].Team) {
				page.Items = append(page.Items, pipelineDetail{ID: id, Name: vs[0].Name})
			}
		}
		out = page
	case SubjectPipelinesGet:
		r := req.(apiv1.Request)
		vs := b.versions[r.Params["id"]]
		out = pipelineDetail{ID: r.Params["id"], Name: vs[0].Name, Version: len(vs), Config: vs[len(vs)-1].Config}
	default:
		return errors.New("unexpected subject " + subject)
	}
	raw, _ := json.Marshal(out)
	return json.Unmarshal(raw, resp)
}

// Stored pipelines in a spec are pinned to `<id>@<version>` of the
// experiment's team when it is created; names, ids and versions resolve,
// other teams' pipelines and missing versions are a 400 naming the variant.
func TestPinStored(t *testing.T) {
	pv := func(id, name, team string, v int) apiv1.PipelineVersion {
		return apiv1.PipelineVersion{PipelineID: id, Name: name, Team: team, Version: v, Config: name + " v" + string(rune('0'+v))}
	}
	bus := &pipelinesBus{versions: map[string][]apiv1.PipelineVersion{
		"pl-1": {pv("pl-1", "prod-hosts", "web", 1), pv("pl-1", "prod-hosts", "web", 2), pv("pl-1", "prod-hosts", "web", 3)},
		"pl-2": {pv("pl-2", "secret", "db", 1)},
	}}
	for _, tc := range []struct {
		name, ref, want, err string
	}{
		{"name, latest", "prod-hosts", "pl-1@3", ""},
		{"name at a version", "prod-hosts@2", "pl-1@2", ""},
		{"id at a version", "pl-1@1", "pl-1@1", ""},
		{"missing version", "prod-hosts@9", "", "spec.candidates[0].pipeline: stored pipeline prod-hosts@9 not found in team web"},
		{"another team's, by id", "pl-2", "", "not found in team web"},
		{"another team's, by name", "secret", "", "not found in team web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &experiment.Experiment{Spec: experiment.Spec{Baseline: experiment.Variant{Template: "baseline"},
				Candidates: []experiment.Variant{{Name: "c", Pipeline: tc.ref}}}}
			err := PinStored(context.Background(), bus, "web", e)
			if tc.err != "" {
				p := problem.From(err)
				if err == nil || p.Status != 400 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Path+": "+p.Errors[0].Message, tc.err) {
					t.Fatalf("error %v %+v, want %q", err, p.Errors, tc.err)
				}
				return
			}
			if err != nil || e.Spec.Candidates[0].Pipeline != tc.want {
				t.Fatalf("pinned %q (%v), want %q", e.Spec.Candidates[0].Pipeline, err, tc.want)
			}
			// The pinned reference resolves to that version's config.
			cfg, err := storedResolver(context.Background(), bus, "web")(e.Spec.Candidates[0].Pipeline)
			if err != nil || !strings.HasPrefix(cfg, "prod-hosts v") {
				t.Fatalf("resolved %q, %v", cfg, err)
			}
		})
	}
}
