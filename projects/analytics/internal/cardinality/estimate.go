package cardinality

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// EachLabel calls fn for each label of a series, resource labels first.
func (sn *Snapshot) EachLabel(r SeriesRef, fn func(resource bool, key, value string)) {
	for _, a := range sn.sets[r.Res].attrs {
		fn(true, sn.KeyNames[a.key], a.val)
	}
	for _, a := range sn.sets[r.DP].attrs {
		fn(false, sn.KeyNames[a.key], a.val)
	}
}

// Label returns a series' value for key (resource first) and whether present.
func (sn *Snapshot) Label(r SeriesRef, key string) (string, bool) {
	for _, set := range [2]uint32{r.Res, r.DP} {
		for _, a := range sn.sets[set].attrs {
			if sn.KeyNames[a.key] == key {
				return a.val, true
			}
		}
	}
	return "", false
}

// otherHash stands for `key="_other_"` in estimates: any consistent value
// works, since estimates only count distinct results.
func otherHash(key string, resource bool) uint64 {
	h := otlpwire.Mix(xxhash.Sum64String(key) ^ 0x5f6f746865725f5f)
	if resource {
		h = otlpwire.Mix(h ^ 0x6a09e667f3bcc909)
	}
	return h
}

// Estimate computes the series a reduction rule would leave, from the
// tracked series: drop labels, then top-k entities per group (ranked by
// their series count; the others fold into `_other_`), then a per-metric
// cap. Past the exact bound the tracked share is scaled to the sketch
// estimate and the error bound is stated. RankHistory.Estimate ranks top-k
// entities the way the processor does instead.
func (sn *Snapshot) Estimate(req apiv1.EstimateRequest) (apiv1.EstimateReply, error) {
	if err := sn.checkRequest(req); err != nil {
		return apiv1.EstimateReply{Stream: sn.Stream, Metric: req.Metric}, err
	}
	return sn.estimate(req, nil, nil)
}

// checkRequest validates what every estimate needs.
func (sn *Snapshot) checkRequest(req apiv1.EstimateRequest) error {
	if req.TopK != nil {
		if req.TopK.K < 0 {
			return fmt.Errorf("topk.k: must not be negative")
		}
		if len(req.TopK.EntityKeys) == 0 {
			return fmt.Errorf("topk.entity_keys: at least one key is required")
		}
		if _, err := compileCritical(req.TopK.Critical); err != nil {
			return err
		}
	}
	if req.CapPerMetric < 0 {
		return fmt.Errorf("cap_per_metric: must not be negative")
	}
	return nil
}

// compileCritical anchors a critical regex; "" is none (nil).
func compileCritical(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("topk.critical: %w", err)
	}
	return re, nil
}

// estimate applies a checked request. For top-k, a non-nil keep is the set
// of kept entities (critical ones are added); otherwise entities rank per
// group by scores (when non-nil), then by series count.
func (sn *Snapshot) estimate(req apiv1.EstimateRequest, keep map[entity]bool, scores map[entity]float64) (apiv1.EstimateReply, error) {
	rep := apiv1.EstimateReply{Stream: sn.Stream, Metric: req.Metric, Exact: sn.Overflow == 0}
	var critical *regexp.Regexp
	if req.TopK != nil {
		critical, _ = compileCritical(req.TopK.Critical)
	}
	drop := map[string]bool{}
	for _, l := range req.DropLabels {
		drop[l] = true
	}
	entityKey := map[string]bool{}
	if req.TopK != nil {
		for _, k := range req.TopK.EntityKeys {
			entityKey[k] = true
		}
	}
	byMetric := sn.ByMetric()
	type ent = entity
	// Rank entities by series over the affected metrics.
	var kept map[ent]bool
	if req.TopK != nil {
		count := map[ent]int{}
		crit := map[ent]bool{}
		for mi, refs := range byMetric {
			if req.Metric != "" && sn.Metrics[mi].Name != req.Metric {
				continue
			}
			for _, r := range refs {
				e, isCrit := sn.entityOf(r, req.TopK, critical)
				count[e]++
				if isCrit {
					crit[e] = true
				}
			}
		}
		perGroup := map[uint64][]ent{}
		for e := range count {
			perGroup[e.group] = append(perGroup[e.group], e)
		}
		kept = map[ent]bool{}
		for e := range keep {
			kept[e] = true
		}
		for _, es := range perGroup {
			if keep != nil {
				for _, e := range es {
					if crit[e] {
						kept[e] = true
					}
				}
				continue
			}
			sortEntities(es, func(a, b ent) bool {
				if scores != nil && scores[a] != scores[b] {
					return scores[a] > scores[b]
				}
				if count[a] != count[b] {
					return count[a] > count[b]
				}
				return a.entity < b.entity // a stable tie-break
			})
			for i, e := range es {
				if i < req.TopK.K || crit[e] {
					kept[e] = true
				}
			}
		}
	}
	var before, after int64
	seen := map[uint64]struct{}{}
	for mi, refs := range byMetric {
		m := sn.Metrics[mi]
		if req.Metric != "" && m.Name != req.Metric || len(refs) == 0 {
			continue
		}
		clear(seen)
		for _, r := range refs {
			sum := sn.Sum(r)
			fold := false
			if req.TopK != nil {
				e, _ := sn.entityOf(r, req.TopK, critical)
				fold = !kept[e]
			}
			for i, set := range [2]uint32{r.Res, r.DP} {
				for _, a := range sn.sets[set].attrs {
					k := sn.KeyNames[a.key]
					switch {
					case drop[k]:
						sum -= a.h
					case fold && entityKey[k]:
						sum += otherHash(k, i == 0) - a.h
					}
				}
			}
			seen[otlpwire.SeriesKey(m.NameHash, sum)] = struct{}{}
		}
		n := int64(len(seen))
		if req.CapPerMetric > 0 && n > req.CapPerMetric {
			n = req.CapPerMetric
		}
		before += int64(len(refs))
		after += n
	}
	if req.Metric != "" && before == 0 {
		return rep, fmt.Errorf("metric %q has no active series in stream %q", req.Metric, sn.Stream)
	}
	rep.SeriesBefore, rep.SeriesAfter = before, after
	if !rep.Exact && len(sn.Series) > 0 {
		scale := (float64(len(sn.Series)) + sn.Overflow) / float64(len(sn.Series))
		rep.SeriesBefore = int64(float64(before)*scale + 0.5)
		rep.SeriesAfter = int64(float64(after)*scale + 0.5)
		rep.ErrorBound = sn.OverflowRE
	}
	return rep, nil
}

// entity identifies a top-k entity by hashes of its group and entity key
// values (no strings are built per series).
type entity struct{ group, entity uint64 }

func (sn *Snapshot) entityOf(r SeriesRef, tk *apiv1.TopKEstimate, critical *regexp.Regexp) (entity, bool) {
	var e entity
	for _, k := range tk.GroupBy {
		v, _ := sn.Label(r, k)
		e.group = otlpwire.Mix(e.group ^ xxhash.Sum64String(v))
	}
	isCrit := false
	for _, k := range tk.EntityKeys {
		v, _ := sn.Label(r, k)
		e.entity = otlpwire.Mix(e.entity ^ xxhash.Sum64String(v))
		if critical != nil && critical.MatchString(v) {
			isCrit = true
		}
	}
	return e, isCrit
}

func sortEntities[T any](s []T, less func(a, b T) bool) { sortSlice(s, less) }

func sortSlice[T any](s []T, less func(a, b T) bool) {
	slices.SortFunc(s, func(a, b T) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
}
