package fidelity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// Entities answers an entities request on a snapshot (nil: no data): per
// matcher, the distinct values of keys among the matching series. A
// malformed matcher is an error (the caller answers 400).
func Entities(sn *cardinality.Snapshot, matchers, keys []string) ([]apiv1.EntitiesMatch, error) {
	parsed := make([][]Matcher, len(matchers))
	for i, m := range matchers {
		ms, err := ParseMatchers(m)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", m, err)
		}
		parsed[i] = ms
	}
	out := make([]apiv1.EntitiesMatch, len(matchers))
	sets := make([]map[string]bool, len(matchers))
	for i := range out {
		out[i] = apiv1.EntitiesMatch{Matcher: matchers[i], Entities: []string{}}
		sets[i] = map[string]bool{}
	}
	if sn == nil {
		return out, nil
	}
	var b strings.Builder
	for _, r := range sn.Series {
		for i, ms := range parsed {
			if !matchAll(sn, r, ms) {
				continue
			}
			b.Reset()
			for j, k := range keys {
				if j > 0 {
					b.WriteByte(',')
				}
				v, _ := sn.Label(r, k)
				b.WriteString(k + "=" + v)
			}
			sets[i][b.String()] = true
		}
	}
	for i, set := range sets {
		out[i].Count = len(set)
		for e := range set {
			out[i].Entities = append(out[i].Entities, e)
		}
		slices.Sort(out[i].Entities)
		if len(out[i].Entities) > apiv1.MaxEntitiesListed {
			out[i].Entities, out[i].Truncated = out[i].Entities[:apiv1.MaxEntitiesListed], true
		}
	}
	return out, nil
}
