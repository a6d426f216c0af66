package cardinality

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bounds of stream reservations (ADR 0016, experiment variant streams).
const (
	MaxReservations       = 4096   // reserved streams held at once; expired ones are dropped first
	MaxReservationStreams = 64     // streams per reservation (an experiment has at most 9 variants)
	MaxReservationAgents  = 10_000 // agents per reservation
	MaxReservationTTL     = 30 * 24 * time.Hour
)

// Reservation errors, for the reply's status: invalid (400), conflict (409,
// another team holds the stream or its reservation), full (503).
var (
	ErrReservationInvalid  = errors.New("invalid reservation")
	ErrReservationConflict = errors.New("stream held by another team")
	ErrReservationsFull    = errors.New("too many reserved streams")
)

// reservation is an experiment's claim on its variant streams: created
// owned by team, writable only by the listed agents' credentials. It is
// immutable; a new reservation replaces it.
type reservation struct {
	team   string
	agents map[string]struct{}
	until  time.Time
}

// admits reports whether a caller may write into the reserved stream:
// unchecked (open ingest, the --dev loop: there is no caller) or an agent
// credential naming one of the experiment's agents.
func (r *reservation) admits(checked bool, agent string) bool {
	if !checked {
		return true
	}
	_, ok := r.agents[agent]
	return agent != "" && ok
}

// Reserve reserves streams for team until until: afterwards only a caller
// with an agent credential naming one of agents may write into them (and a
// stream that does not exist yet is created owned by team). A stream that
// exists owned by another team, or is reserved by another team, is a
// conflict and nothing is reserved. Reserving again replaces the agents and
// the expiry.
func (t *Tracker) Reserve(team string, streams, agents []string, until time.Time) error {
	now := t.now()
	var errs []error
	if team == "" {
		errs = append(errs, errors.New("team is required"))
	}
	if len(streams) == 0 || len(streams) > MaxReservationStreams {
		errs = append(errs, fmt.Errorf("streams: want 1 to %d, got %d", MaxReservationStreams, len(streams)))
	}
	for _, s := range streams {
		if !ValidStream(s) || !strings.Contains(s, "--") {
			errs = append(errs, fmt.Errorf("stream %q is not an experiment variant stream (<experiment>--<variant>)", s))
		}
	}
	if len(agents) == 0 || len(agents) > MaxReservationAgents {
		errs = append(errs, fmt.Errorf("agents: want 1 to %d, got %d", MaxReservationAgents, len(agents)))
	}
	for _, a := range agents {
		if !validPart(a) {
			errs = append(errs, fmt.Errorf("agent id %q is not valid ([A-Za-z0-9_-]{1,64})", a))
			break
		}
	}
	if !until.After(now) || until.Sub(now) > MaxReservationTTL {
		errs = append(errs, fmt.Errorf("until must be in the future and at most %s ahead", MaxReservationTTL))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrReservationInvalid, errors.Join(errs...))
	}
	r := &reservation{team: team, agents: make(map[string]struct{}, len(agents)), until: until}
	for _, a := range agents {
		r.agents[a] = struct{}{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fresh := 0
	for _, id := range streams {
		if s := t.streams[id]; s != nil && s.team != team {
			return fmt.Errorf("%w: stream %q belongs to team %q", ErrReservationConflict, id, s.team)
		}
		if o := t.reserved[id]; o != nil && o.until.After(now) && o.team != team {
			return fmt.Errorf("%w: stream %q is reserved by team %q", ErrReservationConflict, id, o.team)
		}
		if t.reserved[id] == nil {
			fresh++
		}
	}
	if len(t.reserved)+fresh > MaxReservations {
		for id, o := range t.reserved {
			if !o.until.After(now) {
				delete(t.reserved, id)
			}
		}
		if len(t.reserved)+fresh > MaxReservations {
			return fmt.Errorf("%w: %d held (limit %d)", ErrReservationsFull, len(t.reserved), MaxReservations)
		}
	}
	for _, id := range streams {
		t.reserved[id] = r
	}
	return nil
}

// reservationOf returns id's live reservation, or nil; t.mu must be held.
func (t *Tracker) reservationOf(id string) *reservation {
	if len(t.reserved) == 0 {
		return nil
	}
	r := t.reserved[id]
	if r == nil || !r.until.After(t.now()) {
		return nil
	}
	return r
}

// Admits reports whether a caller may write into stream id as far as its
// reservation is concerned (true when it has none).
func (t *Tracker) Admits(id string, checked bool, agent string) bool {
	t.mu.RLock()
	r := t.reservationOf(id)
	t.mu.RUnlock()
	return r == nil || r.admits(checked, agent)
}

// Reservations returns the number of reserved streams held (expired ones
// included until they are dropped).
func (t *Tracker) Reservations() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.reserved)
}

// ValidAgent reports whether id can be an agent id (a fleet id: the UUID
// of an OpAMP instance uid, or any [A-Za-z0-9_-]{1,64}).
func ValidAgent(id string) bool { return validPart(id) }
