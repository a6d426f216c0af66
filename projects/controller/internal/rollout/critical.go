package rollout

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// CriticalChecker asks analytics which entities a stream received at or
// after since: per matcher, the distinct values of keys among the
// matching series (phoenix.analytics.entities).
type CriticalChecker interface {
	Entities(ctx context.Context, stream, matcher string, keys []string, since time.Time) (apiv1.EntitiesMatch, error)
}

// DefaultCriticalLookback is how far back the entities a rollout must keep
// are read when it selects its agents: long enough for a collection
// interval or two, short enough that a process that ended minutes ago is
// not required afterwards.
const DefaultCriticalLookback = time.Minute

// CriticalEntities are the entities of one critical matcher the agents
// delivered before the rollout changed anything.
type CriticalEntities struct {
	Matcher  string   `json:"matcher"`
	Keys     []string `json:"keys"`
	Entities []string `json:"entities"`
}

// hostKey joins every entity's identity: the same process on two hosts is
// two entities.
const hostKey = "host.name"

// matcherLabel finds the label names of a matcher in PromQL form
// (`process.executable.name=~"nginx"`, `{"host.name"="a", x!="b"}`).
var matcherLabel = regexp.MustCompile(`(?:^|[{,\s])(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_.]*))\s*(?:=~|!~|!=|=)`)

// entityKeys are the labels identifying an entity of matcher: host.name
// and the labels the matcher names, so a restarted process (a new pid) is
// the same entity.
func entityKeys(matcher string) []string {
	keys := []string{hostKey}
	for _, m := range matcherLabel.FindAllStringSubmatch(matcher, -1) {
		k := m[2]
		if m[1] != "" {
			k = strings.ReplaceAll(m[1], `\"`, `"`)
		}
		if k != "" && k != "__name__" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// criticalBaseline reads what the rollout must keep receiving.
func (r *Runner) criticalBaseline(ctx context.Context, ro *Record, now time.Time) ([]CriticalEntities, error) {
	if len(ro.Critical) == 0 {
		return nil, nil
	}
	if r.s.Critical == nil {
		return nil, fmt.Errorf("rollout %s names critical entities but no checker is configured", ro.ID)
	}
	out := make([]CriticalEntities, 0, len(ro.Critical))
	for _, m := range ro.Critical {
		keys := entityKeys(m)
		res, err := r.s.Critical.Entities(ctx, ro.stream(), m, keys, now.Add(-r.s.CriticalLookback))
		if err != nil {
			return nil, fmt.Errorf("critical entities of rollout %s: %w", ro.ID, err)
		}
		out = append(out, CriticalEntities{Matcher: m, Keys: keys, Entities: res.Entities})
	}
	return out, nil
}

// missingCritical lists the baseline's critical entities the stream has
// not received since since ("" when none is missing).
func (r *Runner) missingCritical(ctx context.Context, ro *Record, since time.Time) (string, error) {
	if len(ro.CriticalBaseline) == 0 {
		return "", nil
	}
	if r.s.Critical == nil {
		return "", fmt.Errorf("rollout %s names critical entities but no checker is configured", ro.ID)
	}
	var missing []string
	total := 0
	for _, c := range ro.CriticalBaseline {
		if len(c.Entities) == 0 {
			continue
		}
		res, err := r.s.Critical.Entities(ctx, ro.stream(), c.Matcher, c.Keys, since)
		if err != nil {
			return "", fmt.Errorf("critical entities of rollout %s: %w", ro.ID, err)
		}
		for _, e := range c.Entities {
			if !slices.Contains(res.Entities, e) {
				total++
				if len(missing) < 10 {
					missing = append(missing, c.Matcher+" {"+e+"}")
				}
			}
		}
	}
	if total == 0 {
		return "", nil
	}
	if total > len(missing) {
		missing = append(missing, fmt.Sprintf("and %d more", total-len(missing)))
	}
	return fmt.Sprintf("analytics no longer receives %d critical entities on stream %s: %s", total, ro.stream(), strings.Join(missing, "; ")), nil
}

func (ro *Record) stream() string {
	if ro.Stream != "" {
		return ro.Stream
	}
	return apiv1.DefaultStream
}
