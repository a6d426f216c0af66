package store

import (
	"context"
	"crypto/rand"

	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
)

// NewObjectID returns a time-ordered id with prefix ("ar", "si", "ch").
func NewObjectID(prefix string, now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b[:]))
}

// teamPage adds the team filter (nil = all) and the cursor to q, ordered by
// id; it returns false when the caller is in no team.
func teamPage(q string, args []any, teams []string, cursor string, n int) (string, []any, bool) {
	if teams != nil {
		if len(teams) == 0 {
			return "", nil, false
		}
		q += ` AND team IN (?` + strings.Repeat(`, ?`, len(teams)-1) + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	if cursor != "" {
		q += ` AND id > ?`
		args = append(args, cursor)
	}
	q += ` ORDER BY id LIMIT ?`
	return q, append(args, n), true
}

func (s *Store) deleteRow(ctx context.Context, table, id string) error {
	res, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`DELETE FROM `+table+` WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", table, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete %s %s: %w", table, id, database.ErrNotFound)
	}
	return nil
}

// --- rules

const ruleCols = `id, name, team, stream, kind, severity, threshold, price_model, metric, signal, created_at_ms, created_by`

func scanRule(row interface{ Scan(...any) error }) (apiv1.AlertRule, error) {
	var r apiv1.AlertRule
	var created int64
	err := row.Scan(&r.ID, &r.Name, &r.Team, &r.Stream, &r.Kind, &r.Severity, &r.Threshold, &r.PriceModel, &r.Metric, &r.Signal, &created, &r.CreatedBy)
	r.CreatedAt = time.UnixMilli(created).UTC()
	return r, err
}

// CreateRule stores a rule (its ID set by the caller).
func (s *Store) CreateRule(ctx context.Context, r apiv1.AlertRule) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO alert_rules (`+ruleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Name, r.Team, r.Stream, r.Kind, r.Severity, r.Threshold, r.PriceModel, r.Metric, r.Signal, r.CreatedAt.UnixMilli(), r.CreatedBy)
	if err != nil {
		return fmt.Errorf("create alert rule: %w", err)
	}
	return nil
}

// GetRule returns one rule (database.ErrNotFound when there is none).
func (s *Store) GetRule(ctx context.Context, id string) (apiv1.AlertRule, error) {
	r, err := scanRule(s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT `+ruleCols+` FROM alert_rules WHERE id = ?`), id))
	if err != nil {
		return r, fmt.Errorf("get alert rule %s: %w", id, database.NotFound(err))
	}
	return r, nil
}

// ListRules returns up to n rules of teams (nil = all) after cursor, by id;
// kinds, when given, filters by kind.
func (s *Store) ListRules(ctx context.Context, teams []string, kinds []string, cursor string, n int) ([]apiv1.AlertRule, error) {
	q, args := `SELECT `+ruleCols+` FROM alert_rules WHERE 1 = 1`, []any{}
	if len(kinds) > 0 {
		q += ` AND kind IN (?` + strings.Repeat(`, ?`, len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	q, args, ok := teamPage(q, args, teams, cursor, n)
	if !ok {
		return nil, nil
	}
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	defer rows.Close()
	var out []apiv1.AlertRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("list alert rules: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteRule deletes a rule.
func (s *Store) DeleteRule(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "alert_rules", id)
}

// --- silences

const silenceCols = `id, team, stream, rule, severity, starts_at_ms, ends_at_ms, comment, created_at_ms, created_by`

func scanSilence(row interface{ Scan(...any) error }) (apiv1.Silence, error) {
	var si apiv1.Silence
	var start, end, created int64
	err := row.Scan(&si.ID, &si.Team, &si.Stream, &si.Rule, &si.Severity, &start, &end, &si.Comment, &created, &si.CreatedBy)
	si.StartsAt, si.EndsAt, si.CreatedAt = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC(), time.UnixMilli(created).UTC()
	return si, err
}

// CreateSilence stores a silence.
func (s *Store) CreateSilence(ctx context.Context, si apiv1.Silence) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO silences (`+silenceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		si.ID, si.Team, si.Stream, si.Rule, si.Severity, si.StartsAt.UnixMilli(), si.EndsAt.UnixMilli(), si.Comment, si.CreatedAt.UnixMilli(), si.CreatedBy)
	if err != nil {
		return fmt.Errorf("create silence: %w", err)
	}
	return nil
}

// GetSilence returns one silence.
func (s *Store) GetSilence(ctx context.Context, id string) (apiv1.Silence, error) {
	si, err := scanSilence(s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT `+silenceCols+` FROM silences WHERE id = ?`), id))
	if err != nil {
		return si, fmt.Errorf("get silence %s: %w", id, database.NotFound(err))
	}
	return si, nil
}

// ListSilences returns up to n silences of teams (nil = all) after cursor;
// activeAt, when not zero, keeps those in force then.
func (s *Store) ListSilences(ctx context.Context, teams []string, activeAt time.Time, cursor string, n int) ([]apiv1.Silence, error) {
	q, args := `SELECT `+silenceCols+` FROM silences WHERE 1 = 1`, []any{}
	if !activeAt.IsZero() {
		q += ` AND starts_at_ms <= ? AND ends_at_ms > ?`
		args = append(args, activeAt.UnixMilli(), activeAt.UnixMilli())
	}
	q, args, ok := teamPage(q, args, teams, cursor, n)
	if !ok {
		return nil, nil
	}
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	defer rows.Close()
	var out []apiv1.Silence
	for rows.Next() {
		si, err := scanSilence(rows)
		if err != nil {
			return nil, fmt.Errorf("list silences: %w", err)
		}
		out = append(out, si)
	}
	return out, rows.Err()
}

// DeleteSilence deletes a silence.
func (s *Store) DeleteSilence(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "silences", id)
}

// --- channels

// SealedChannel is a channel with its secret as stored (sealed).
type SealedChannel struct {
	apiv1.Channel
	Sealed string
}

const channelCols = `id, name, team, type, url, secret, severities, streams, allow_private, created_at_ms, created_by`

func scanChannel(row interface{ Scan(...any) error }) (SealedChannel, error) {
	var (
		c                  SealedChannel
		sev, streams       string
		allowPriv, created int64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Team, &c.Type, &c.URL, &c.Sealed, &sev, &streams, &allowPriv, &created, &c.CreatedBy); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(sev), &c.Severities); err != nil {
		return c, fmt.Errorf("channel %s severities: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(streams), &c.Streams); err != nil {
		return c, fmt.Errorf("channel %s streams: %w", c.ID, err)
	}
	c.HasSecret, c.AllowPrivate, c.CreatedAt = c.Sealed != "", allowPriv == 1, time.UnixMilli(created).UTC()
	if c.Severities == nil {
		c.Severities = []string{}
	}
	if c.Streams == nil {
		c.Streams = []string{}
	}
	return c, nil
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateChannel stores a channel with its sealed secret.
func (s *Store) CreateChannel(ctx context.Context, c SealedChannel) error {
	allow := 0
	if c.AllowPrivate {
		allow = 1
	}
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO channels (`+channelCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Name, c.Team, c.Type, c.URL, c.Sealed, jsonList(c.Severities), jsonList(c.Streams), allow, c.CreatedAt.UnixMilli(), c.CreatedBy)
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	return nil
}

// GetChannel returns one channel.
func (s *Store) GetChannel(ctx context.Context, id string) (SealedChannel, error) {
	c, err := scanChannel(s.db.DB.QueryRowContext(ctx, s.db.Rebind(`SELECT `+channelCols+` FROM channels WHERE id = ?`), id))
	if err != nil {
		return c, fmt.Errorf("get channel %s: %w", id, database.NotFound(err))
	}
	return c, nil
}

// ListChannels returns up to n channels of teams (nil = all) after cursor.
func (s *Store) ListChannels(ctx context.Context, teams []string, cursor string, n int) ([]SealedChannel, error) {
	q, args, ok := teamPage(`SELECT `+channelCols+` FROM channels WHERE 1 = 1`, nil, teams, cursor, n)
	if !ok {
		return nil, nil
	}
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	var out []SealedChannel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteChannel deletes a channel and its delivery records.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	if err := s.deleteRow(ctx, "channels", id); err != nil {
		return err
	}
	if _, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`DELETE FROM alert_deliveries WHERE channel_id = ?`), id); err != nil {
		return fmt.Errorf("delete deliveries of channel %s: %w", id, err)
	}
	return nil
}

// --- deliveries

// SaveDelivery upserts one delivery status.
func (s *Store) SaveDelivery(ctx context.Context, d apiv1.Delivery) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`INSERT INTO alert_deliveries (alert_id, channel_id, event, status, attempts, http_status, error, updated_at_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id, channel_id, event) DO UPDATE SET status = excluded.status,
		attempts = excluded.attempts, http_status = excluded.http_status, error = excluded.error, updated_at_ms = excluded.updated_at_ms`),
		d.AlertID, d.ChannelID, d.Event, d.Status, d.Attempts, d.HTTPStatus, d.Error, d.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("save delivery %s/%s/%s: %w", d.AlertID, d.ChannelID, d.Event, err)
	}
	return nil
}

// maxDeliveries bounds one alert's delivery list (events x channels).
const maxDeliveries = 500

// Deliveries returns an alert's delivery statuses, oldest first.
func (s *Store) Deliveries(ctx context.Context, alertID string) ([]apiv1.Delivery, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT alert_id, channel_id, event, status, attempts, http_status, error, updated_at_ms
		FROM alert_deliveries WHERE alert_id = ? ORDER BY updated_at_ms, channel_id, event LIMIT ?`), alertID, maxDeliveries)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of %s: %w", alertID, err)
	}
	defer rows.Close()
	out := []apiv1.Delivery{}
	for rows.Next() {
		var d apiv1.Delivery
		var at int64
		if err := rows.Scan(&d.AlertID, &d.ChannelID, &d.Event, &d.Status, &d.Attempts, &d.HTTPStatus, &d.Error, &at); err != nil {
			return nil, fmt.Errorf("list deliveries of %s: %w", alertID, err)
		}
		d.UpdatedAt = time.UnixMilli(at).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}
