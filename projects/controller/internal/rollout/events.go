package rollout

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Event is one transition of a rollout as PHOENIX_EVENTS carries it
// (kind rollout, subject phoenix.events.rollout.<id>): the rollout's state
// after the write, what changed, and the team (the WebSocket hub filters
// by it). Version orders a rollout's events; consumers deduplicate by
// rollout id and version.
type Event struct {
	RolloutID string `json:"rollout_id"`
	Team      string `json:"team"`
	Version   int64  `json:"version"`
	State     State  `json:"state"`
	// Transition says what the write did: created, agents selected, step
	// N applied, step N checked, succeeded, rolled_back, aborted, restored.
	Transition string    `json:"transition"`
	Step       int       `json:"step"` // 1-based step the rollout is at (0 before selection)
	Agents     int       `json:"agents"`
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
}

// Publisher announces rollout events (PHOENIX_EVENTS). Delivery is at
// least once: a crash between publishing and marking it published repeats
// it.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// transition names what a write from prev to next did.
func transition(prev, next *Record) string {
	switch {
	case prev == nil:
		return "created"
	case prev.State != next.State:
		return string(next.State)
	case !prev.Progress.Restored && next.Progress.Restored:
		return "restored"
	case !prev.Selected && next.Selected:
		return fmt.Sprintf("%d agents selected", len(next.Progress.Agents))
	case !prev.Progress.RolloutPausing && next.Progress.RolloutPausing:
		return fmt.Sprintf("step %d applied", next.Progress.RolloutStep+1)
	case prev.Progress.RolloutStep != next.Progress.RolloutStep:
		return fmt.Sprintf("step %d checked", prev.Progress.RolloutStep+1)
	case prev.Progress.Note != next.Progress.Note:
		if next.Progress.Note == "" {
			return "waiting over"
		}
		return "waiting"
	}
	return "updated"
}

func eventOf(prev, next *Record, actor string) Event {
	step := 0
	if next.Selected {
		step = next.Progress.RolloutStep + 1
	}
	return Event{RolloutID: next.ID, Team: next.Team, Version: next.Version, State: next.State,
		Transition: transition(prev, next), Step: step, Agents: len(next.Progress.Agents),
		Reason: firstNonEmpty(next.Progress.Note, next.Reason), Actor: actor, At: next.UpdatedAt}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// insertEvent writes e to the outbox in tx.
func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, e Event) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode rollout event: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO rollout_events (rollout_id, version, doc, at_ms, published)
		VALUES (?, ?, ?, ?, 0)`), e.RolloutID, e.Version, string(doc), toMS(e.At))
	if err != nil {
		return fmt.Errorf("insert rollout event: %w", err)
	}
	return nil
}

// Unpublished returns up to limit events not yet published, oldest first.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT doc FROM rollout_events WHERE published = 0
		ORDER BY at_ms, rollout_id, version LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished rollout events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("unpublished rollout events: %w", err)
		}
		var e Event
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			return nil, fmt.Errorf("decode rollout event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Events returns a rollout's events, oldest first (at most limit).
func (s *Store) Events(ctx context.Context, id string, limit int) ([]Event, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT doc FROM rollout_events WHERE rollout_id = ?
		ORDER BY version LIMIT ?`), id, limit)
	if err != nil {
		return nil, fmt.Errorf("events of rollout %s: %w", id, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("events of rollout %s: %w", id, err)
		}
		var e Event
		if err := json.Unmarshal([]byte(doc), &e); err != nil {
			return nil, fmt.Errorf("decode rollout event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkPublished records that the event (id, version) is on PHOENIX_EVENTS.
func (s *Store) MarkPublished(ctx context.Context, id string, version int64) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`UPDATE rollout_events SET published = 1 WHERE rollout_id = ? AND version = ?`), id, version)
	if err != nil {
		return fmt.Errorf("mark rollout event %s/%d published: %w", id, version, err)
	}
	return nil
}

// maxPublish bounds the events one pass publishes.
const maxPublish = 500

// publish drains the outbox: every unpublished event, oldest first. A
// failure leaves the rest for the next pass.
func (r *Runner) publish(ctx context.Context) error {
	if r.s.Publisher == nil {
		return nil
	}
	evs, err := r.s.Store.Unpublished(ctx, maxPublish)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := r.s.Publisher.Publish(ctx, e); err != nil {
			return fmt.Errorf("publish rollout event %s/%d: %w", e.RolloutID, e.Version, err)
		}
		if err := r.s.Store.MarkPublished(ctx, e.RolloutID, e.Version); err != nil {
			return err
		}
	}
	return nil
}
