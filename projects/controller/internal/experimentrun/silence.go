package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// Silence finds the agents of an experiment that sent nothing on a
// variant. What the data carries decides how: an experiment config reads
// host metrics through resource_detection (system detector, hostname from
// the OS), so every series an agent's collector sends carries host.name =
// the hostname the agent reports over OpAMP. Agents are therefore told
// apart by hostname; agents sharing one (several collectors on one host)
// are one group, silent only when none of them sent anything. An OTLP
// source forwards other hosts' data, whose host.name is theirs: then no
// per-agent check is possible and Check says so instead of guessing.
type Silence struct {
	Bus Requester
	// Hostname returns the hostname an agent reports ("" when unknown).
	Hostname func(ctx context.Context, agentID string) (string, error)
	// Source returns the receiver side of r's experiment config.
	Source func(ctx context.Context, r *experiment.Record) (pipelinegen.Source, error)
}

// hostKey is the resource attribute resource_detection sets.
const hostKey = "host.name"

// errTooManyHosts: a stream carries more hosts than one answer lists.
var errTooManyHosts = errors.New("too many hosts")

// Check lists, per agent, the variant streams that received nothing from
// its host since from. note, when set, says why no per-agent check was
// made (the verdict does not need it: EmptyStreams still applies).
func (s *Silence) Check(ctx context.Context, r *experiment.Record, from time.Time) (silent []string, note string, err error) {
	src, err := s.Source(ctx, r)
	if err != nil {
		return nil, "", err
	}
	if src.Kind == pipelinegen.SourceOTLP {
		return nil, "agents not checked one by one: an OTLP source carries the senders' host.name, not the agents'", nil
	}
	hosts := map[string][]string{} // hostname -> agents
	var unknown []string
	for _, a := range r.Progress.Agents {
		h, err := s.Hostname(ctx, a.ID)
		if err != nil {
			return nil, "", fmt.Errorf("hostname of agent %s: %w", a.ID, err)
		}
		if h == "" {
			unknown = append(unknown, a.ID)
			continue
		}
		hosts[h] = append(hosts[h], a.ID)
	}
	if len(hosts) == 0 {
		return nil, "agents not checked one by one: none reported a hostname", nil
	}
	names := slices.Sorted(maps.Keys(hosts))
	variants := []string{experiment.BaselineVariant}
	for _, c := range r.Spec.Spec.Candidates {
		variants = append(variants, c.Name)
	}
	quiet := map[string][]string{} // hostname -> variants it sent nothing on
	for _, v := range variants {
		stream := experiment.StreamID(r.Name(), v)
		got, err := s.hostsOf(ctx, stream, from)
		if errors.Is(err, errTooManyHosts) {
			// A host left out of the answer would be called silent:
			// better no per-agent check than a false one.
			return nil, "agents not checked one by one: " + err.Error(), nil
		}
		if err != nil {
			return nil, "", err
		}
		for _, h := range names {
			if !got[h] {
				quiet[h] = append(quiet[h], v)
			}
		}
	}
	for _, h := range names {
		if len(quiet[h]) == 0 {
			continue
		}
		who := strings.Join(hosts[h], ", ")
		if len(hosts[h]) > 1 {
			who += " (one host, checked together)"
		}
		silent = append(silent, fmt.Sprintf("%s on host %s sent nothing on %s", who, h, strings.Join(quiet[h], ", ")))
	}
	if len(unknown) > 0 {
		note = "not checked one by one (no hostname reported): " + strings.Join(capped(unknown, 10), ", ")
	}
	return silent, note, nil
}

// hostsOf is the set of host.name values stream received since from.
func (s *Silence) hostsOf(ctx context.Context, stream string, from time.Time) (map[string]bool, error) {
	var rep apiv1.EntitiesReply
	err := s.Bus.Request(ctx, apiv1.SubjectAnalyticsEntities, apiv1.EntitiesRequest{
		Stream: stream, Matchers: []string{hostKey + `!=""`}, Keys: []string{hostKey}, Since: from.UTC(),
	}, &rep)
	if err != nil {
		return nil, fmt.Errorf("hosts of %s: %w", stream, err)
	}
	out := map[string]bool{}
	for _, res := range rep.Results {
		if res.Truncated {
			return nil, fmt.Errorf("%w: %s has more than %d", errTooManyHosts, stream, apiv1.MaxEntitiesListed)
		}
		for _, e := range res.Entities {
			out[strings.TrimPrefix(e, hostKey+"=")] = true
		}
	}
	return out, nil
}

func capped(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "and "+strconv.Itoa(len(s)-n)+" more")
	}
	return s
}
