// Package store keeps the anomaly detector's tables: each (stream, signal)
// detector's state, so a restart resumes instead of relearning, and the
// alerts with their lifecycle firing -> acknowledged -> resolved.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
)

// ErrState is a transition the alert's state does not allow (acknowledging
// a resolved alert).
var ErrState = errors.New("alert state does not allow this")

// Store reads and writes the tables of migrations/00001_guard.sql.
type Store struct {
	db *database.Store
}

// New wraps an open, migrated database.
func New(db *database.Store) *Store { return &Store{db: db} }

// Series is one detector's stored state.
type Series struct {
	Stream, Signal string
	State          []byte    // anomaly.Ensemble.MarshalBinary
	Recent         []float64 // the signal's last values, oldest first
	Points         int64
	UpdatedAt      time.Time
}

// LoadSeries returns every stored detector state.
func (s *Store) LoadSeries(ctx context.Context) ([]Series, error) {
	rows, err := s.db.DB.QueryContext(ctx, `SELECT stream, signal, state, recent, points, updated_at_ms FROM anomaly_series`)
	if err != nil {
		return nil, fmt.Errorf("load detector states: %w", err)
	}
	defer rows.Close()
	var out []Series
	for rows.Next() {
		var (
			se            Series
			state, recent string
			updated       int64
		)
		if err := rows.Scan(&se.Stream, &se.Signal, &state, &recent, &se.Points, &updated); err != nil {
			return nil, fmt.Errorf("load detector states: %w", err)
		}
		if se.State, err = base64.StdEncoding.DecodeString(state); err != nil {
			return nil, fmt.Errorf("load detector state %s/%s: %w", se.Stream, se.Signal, err)
		}
		if err := json.Unmarshal([]byte(recent), &se.Recent); err != nil {
			return nil, fmt.Errorf("load detector state %s/%s: recent: %w", se.Stream, se.Signal, err)
		}
		se.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, se)
	}
	return out, rows.Err()
}

// SaveSeries upserts detector states in one transaction.
func (s *Store) SaveSeries(ctx context.Context, series []Series) error {
	if len(series) == 0 {
		return nil
	}
	q := s.db.Rebind(`INSERT INTO anomaly_series (stream, signal, state, recent, points, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (stream, signal) DO UPDATE SET state = excluded.state, recent = excluded.recent,
		points = excluded.points, updated_at_ms = excluded.updated_at_ms`)
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, se := range series {
			recent, err := json.Marshal(se.Recent)
			if err != nil {
				return fmt.Errorf("save detector state %s/%s: %w", se.Stream, se.Signal, err)
			}
			if recent == nil || string(recent) == "null" {
				recent = []byte("[]")
			}
			if _, err := tx.ExecContext(ctx, q, se.Stream, se.Signal, base64.StdEncoding.EncodeToString(se.State),
				string(recent), se.Points, se.UpdatedAt.UnixMilli()); err != nil {
				return fmt.Errorf("save detector state %s/%s: %w", se.Stream, se.Signal, err)
			}
		}
		return nil
	})
}

// DeleteSeries forgets a stream's detector states.
func (s *Store) DeleteSeries(ctx context.Context, stream string) error {
	if _, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`DELETE FROM anomaly_series WHERE stream = ?`), stream); err != nil {
		return fmt.Errorf("delete detector states of %s: %w", stream, err)
	}
	return nil
}

// DedupKey is the identity of an alert's condition.
func DedupKey(a apiv1.Alert) string {
	k := strings.Join([]string{a.Rule, a.Stream, a.Metric, a.Label, a.Signal}, "|")
	if a.RuleID != "" {
		// A user rule's alert is one per (rule, stream): its metric and
		// label may change while it fires.
		k = "rule|" + a.RuleID + "|" + a.Stream
	}
	return k
}

// GroupOf is an alert's group: its stream and rule kind.
func GroupOf(a apiv1.Alert) string { return a.Stream + "/" + a.Rule }

// NewID returns a new alert id: time-ordered, so ids sort oldest first.
func NewID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("al-%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

const alertCols = `id, rule, severity, state, stream, team, metric, label, signal, summary, value, baseline, attribution,
	started_at_ms, updated_at_ms, acknowledged_at_ms, acknowledged_by, resolved_at_ms, resolved_by, rule_id, alert_group, silenced_by`

func scanAlert(row interface{ Scan(...any) error }) (apiv1.Alert, error) {
	var (
		a                apiv1.Alert
		attr             string
		started, updated int64
		acked, resolved  sql.NullInt64
	)
	err := row.Scan(&a.ID, &a.Rule, &a.Severity, &a.State, &a.Stream, &a.Team, &a.Metric, &a.Label, &a.Signal, &a.Summary,
		&a.Value, &a.Baseline, &attr, &started, &updated, &acked, &a.AcknowledgedBy, &resolved, &a.ResolvedBy,
		&a.RuleID, &a.Group, &a.SilencedBy)
	if err != nil {
		return a, err
	}
	if attr != "" {
		a.Attribution = &apiv1.Attribution{}
		if err := json.Unmarshal([]byte(attr), a.Attribution); err != nil {
			return a, fmt.Errorf("alert %s: attribution: %w", a.ID, err)
		}
	}
	a.StartedAt, a.UpdatedAt = time.UnixMilli(started).UTC(), time.UnixMilli(updated).UTC()
	a.AcknowledgedAt, a.ResolvedAt = msTime(acked), msTime(resolved)
	return a, nil
}

func msTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

func attrJSON(a *apiv1.Attribution) (string, error) {
	if a == nil {
		return "", nil
	}
	b, err := json.Marshal(a)
	return string(b), err
}

// Fire records that a's condition holds: it opens a new firing alert, or
// updates the open one with the same DedupKey (its value, summary and
// attribution; state and start stay). It returns the alert as stored and
// whether it is new.
func (s *Store) Fire(ctx context.Context, a apiv1.Alert, now time.Time) (apiv1.Alert, bool, error) {
	key := DedupKey(a)
	attr, err := attrJSON(a.Attribution)
	if err != nil {
		return a, false, fmt.Errorf("fire alert: %w", err)
	}
	var created bool
	var id string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT id FROM alerts WHERE dedup_key = ? AND open = 1`), key).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created, id = true, NewID(now)
			_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO alerts (id, dedup_key, open, rule, severity, state, stream, team,
				metric, label, signal, summary, value, baseline, attribution, started_at_ms, updated_at_ms, rule_id, alert_group, silenced_by)
				VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				id, key, a.Rule, a.Severity, apiv1.AlertFiring, a.Stream, a.Team, a.Metric, a.Label, a.Signal, a.Summary,
				a.Value, a.Baseline, attr, now.UnixMilli(), now.UnixMilli(), a.RuleID, GroupOf(a), a.SilencedBy)
			return err
		case err != nil:
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE alerts SET summary = ?, value = ?, attribution = CASE WHEN ? = '' THEN attribution ELSE ? END,
			severity = ?, updated_at_ms = ? WHERE id = ?`), a.Summary, a.Value, attr, attr, a.Severity, now.UnixMilli(), id)
		return err
	})
	if err != nil {
		return a, false, fmt.Errorf("fire alert %s: %w", key, err)
	}
	stored, err := s.Get(ctx, id)
	return stored, created, err
}

// Get returns one alert (database.ErrNotFound when there is none).
func (s *Store) Get(ctx context.Context, id string) (apiv1.Alert, error) {
	a, err := scanAlert(s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT `+alertCols+` FROM alerts WHERE id = ?`), id))
	if err != nil {
		return a, fmt.Errorf("get alert %s: %w", id, database.NotFound(err))
	}
	return a, nil
}

// Open returns every firing or acknowledged alert.
func (s *Store) Open(ctx context.Context) ([]apiv1.Alert, error) {
	return s.query(ctx, `SELECT `+alertCols+` FROM alerts WHERE open = 1 ORDER BY id`)
}

// Filter selects alerts for a list.
type Filter struct {
	State  string   // "" = any
	Stream string   // "" = any
	Group  string   // "" = any
	RuleID string   // "" = any
	Teams  []string // nil = every team (admins)
}

// List returns up to n alerts matching f, newest first, after cursor (an
// alert id; "" for the first page).
func (s *Store) List(ctx context.Context, f Filter, cursor string, n int) ([]apiv1.Alert, error) {
	q := `SELECT ` + alertCols + ` FROM alerts WHERE 1 = 1`
	var args []any
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Stream != "" {
		q += ` AND stream = ?`
		args = append(args, f.Stream)
	}
	if f.Group != "" {
		q += ` AND alert_group = ?`
		args = append(args, f.Group)
	}
	if f.RuleID != "" {
		q += ` AND rule_id = ?`
		args = append(args, f.RuleID)
	}
	if f.Teams != nil {
		if len(f.Teams) == 0 {
			return nil, nil
		}
		q += ` AND team IN (?` + strings.Repeat(`, ?`, len(f.Teams)-1) + `)`
		for _, t := range f.Teams {
			args = append(args, t)
		}
	}
	if cursor != "" {
		q += ` AND id < ?`
		args = append(args, cursor)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, n)
	return s.query(ctx, q, args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]apiv1.Alert, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []apiv1.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Acknowledge moves a firing alert to acknowledged (acknowledging an
// acknowledged alert changes nothing); a resolved one is ErrState.
func (s *Store) Acknowledge(ctx context.Context, id, by string, now time.Time) (apiv1.Alert, bool, error) {
	return s.transition(ctx, id, func(a apiv1.Alert) (string, []any, error) {
		switch a.State {
		case apiv1.AlertAcknowledged:
			return "", nil, nil
		case apiv1.AlertResolved:
			return "", nil, fmt.Errorf("acknowledge alert %s: it is resolved: %w", id, ErrState)
		}
		return `UPDATE alerts SET state = ?, acknowledged_at_ms = ?, acknowledged_by = ?, updated_at_ms = ? WHERE id = ? AND open = 1`,
			[]any{apiv1.AlertAcknowledged, now.UnixMilli(), by, now.UnixMilli(), id}, nil
	})
}

// Resolve closes an open alert; by is the user, or "auto" when the
// condition cleared. Resolving a resolved alert changes nothing.
func (s *Store) Resolve(ctx context.Context, id, by string, now time.Time) (apiv1.Alert, bool, error) {
	return s.transition(ctx, id, func(a apiv1.Alert) (string, []any, error) {
		if a.State == apiv1.AlertResolved {
			return "", nil, nil
		}
		return `UPDATE alerts SET state = ?, open = 0, resolved_at_ms = ?, resolved_by = ?, updated_at_ms = ? WHERE id = ? AND open = 1`,
			[]any{apiv1.AlertResolved, now.UnixMilli(), by, now.UnixMilli(), id}, nil
	})
}

// transition applies the update step chooses for the alert's current state
// and returns the alert after it, and whether anything changed. An alert
// resolved meanwhile (the detector and a user at once) is read again and
// stepped once more, so the loser sees the new state instead of an error.
func (s *Store) transition(ctx context.Context, id string, step func(apiv1.Alert) (string, []any, error)) (apiv1.Alert, bool, error) {
	for attempt := 0; ; attempt++ {
		a, err := s.Get(ctx, id)
		if err != nil {
			return a, false, err
		}
		q, args, err := step(a)
		if err != nil || q == "" {
			return a, false, err
		}
		err = database.ExpectOne(s.db.DB.ExecContext(ctx, s.db.Rebind(q), args...))
		if errors.Is(err, database.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return a, false, fmt.Errorf("update alert %s: %w", id, err)
		}
		a, err = s.Get(ctx, id)
		return a, err == nil, err
	}
}
