package experimentrun

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// hostsBus answers phoenix.analytics.entities with the hosts each stream
// received, as analytics would for `host.name!=""` keyed by host.name.
type hostsBus struct {
	hosts map[string][]string // stream -> hosts
	asked []apiv1.EntitiesRequest
}

func (b *hostsBus) Request(_ context.Context, subject string, req, resp any) error {
	if subject != apiv1.SubjectAnalyticsEntities {
		return errors.New("unexpected subject " + subject)
	}
	er := req.(apiv1.EntitiesRequest)
	b.asked = append(b.asked, er)
	m := apiv1.EntitiesMatch{Matcher: er.Matchers[0], Entities: []string{}}
	for _, h := range b.hosts[er.Stream] {
		m.Entities = append(m.Entities, "host.name="+h)
	}
	m.Count = len(m.Entities)
	raw, _ := json.Marshal(apiv1.EntitiesReply{Stream: er.Stream, Results: []apiv1.EntitiesMatch{m}})
	return json.Unmarshal(raw, resp)
}

// An agent whose host sends nothing on a variant is named, with the
// variants; agents on one host are checked together; an OTLP source is
// not checked one by one, and says so.
func TestSilence(t *testing.T) {
	rec := &experiment.Record{ID: "exp-1", Spec: experiment.Experiment{Metadata: experiment.Metadata{Name: "e"},
		Spec: experiment.Spec{Candidates: []experiment.Variant{{Name: "topk"}, {Name: "drop"}}}},
		Progress: experiment.Progress{Agents: []experiment.AgentProgress{{ID: "a1"}, {ID: "a2"}, {ID: "a3"}, {ID: "a4"}}}}
	hostname := map[string]string{"a1": "h1", "a2": "h2", "a3": "h2", "a4": ""}
	from := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		source string
		hosts  map[string][]string
		want   string // silent, joined by |
		note   string
	}{
		{"every host on every variant", "", map[string][]string{"e--baseline": {"h1", "h2"}, "e--topk": {"h1", "h2"}, "e--drop": {"h2", "h1", "h9"}}, "", "a4"},
		{"h1 silent on two variants", "", map[string][]string{"e--baseline": {"h1", "h2"}, "e--topk": {"h2"}, "e--drop": {"h2"}},
			"a1 on host h1 sent nothing on topk, drop", "a4"},
		{"a host never reported", "", map[string][]string{"e--baseline": {"h1"}, "e--topk": {"h1"}, "e--drop": {"h1"}},
			"a2, a3 (one host, checked together) on host h2 sent nothing on baseline, topk, drop", "a4"},
		{"no data at all", "", nil,
			"a1 on host h1 sent nothing on baseline, topk, drop|a2, a3 (one host, checked together) on host h2 sent nothing on baseline, topk, drop", "a4"},
		{"otlp source: not checked", pipelinegen.SourceOTLP, nil, "", "OTLP source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := &hostsBus{hosts: tc.hosts}
			s := &Silence{Bus: bus,
				Hostname: func(_ context.Context, id string) (string, error) { return hostname[id], nil },
				Source: func(context.Context, *experiment.Record) (pipelinegen.Source, error) {
					return pipelinegen.Source{Kind: tc.source}, nil
				},
			}
			silent, note, err := s.Check(context.Background(), rec, from)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(silent, "|"); got != tc.want {
				t.Errorf("silent %q, want %q", got, tc.want)
			}
			if !strings.Contains(note, tc.note) {
				t.Errorf("note %q lacks %q", note, tc.note)
			}
			for _, a := range bus.asked {
				if !a.Since.Equal(from) || a.Keys[0] != "host.name" {
					t.Errorf("asked %+v", a)
				}
			}
		})
	}
}
