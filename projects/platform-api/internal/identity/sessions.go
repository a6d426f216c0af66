package identity

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

// CreateSession stores a login with its refresh token's hash.
func (s *Store) CreateSession(ctx context.Context, id, username, refreshHash, remote string, expires time.Time) error {
	_, err := s.exec(ctx, s.q("INSERT INTO sessions (id, username, refresh_hash, created_at, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)"),
		id, username, refreshHash, ms(time.Now()), ms(expires), remote)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// SessionByRefresh finds the session whose current refresh token hashes to
// refreshHash.
func (s *Store) SessionByRefresh(ctx context.Context, refreshHash string) (Session, error) {
	var se Session
	var exp int64
	var rev sql.NullInt64
	err := s.queryRow(ctx, s.q("SELECT id, username, expires_at, revoked_at FROM sessions WHERE refresh_hash = ?"), refreshHash).
		Scan(&se.ID, &se.Username, &exp, &rev)
	if err != nil {
		return Session{}, database.NotFound(err)
	}
	se.ExpiresAt, se.RevokedAt = fromMS(exp), nullTime(rev)
	return se, nil
}

// GetSession reads one session by id.
func (s *Store) GetSession(ctx context.Context, id string) (Session, error) {
	var se Session
	var exp int64
	var rev sql.NullInt64
	err := s.queryRow(ctx, s.q("SELECT id, username, expires_at, revoked_at FROM sessions WHERE id = ?"), id).
		Scan(&se.ID, &se.Username, &exp, &rev)
	if err != nil {
		return Session{}, database.NotFound(err)
	}
	se.ExpiresAt, se.RevokedAt = fromMS(exp), nullTime(rev)
	return se, nil
}

// RotateRefresh swaps the refresh token of a live session; a stale token
// (already rotated) matches no row and gets ErrConflict.
// The old token is remembered (UsedRefresh) while the session lives.
func (s *Store) RotateRefresh(ctx context.Context, sid, oldHash, newHash string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("UPDATE sessions SET refresh_hash = ? WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL"),
			newHash, sid, oldHash)
		if err := database.ExpectOne(res, err); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO refresh_used (refresh_hash, session_id, used_at) VALUES (?, ?, ?)"),
			oldHash, sid, ms(time.Now())); err != nil {
			return fmt.Errorf("remember used refresh token: %w", err)
		}
		return nil
	})
}

// UsedRefresh answers the session a rotated-away refresh token belonged to
// (database.ErrNotFound if none): its reuse means a copy leaked.
func (s *Store) UsedRefresh(ctx context.Context, refreshHash string) (string, error) {
	var sid string
	err := s.queryRow(ctx, s.q("SELECT session_id FROM refresh_used WHERE refresh_hash = ?"), refreshHash).Scan(&sid)
	return sid, database.NotFound(err)
}

// RevokeSession ends a session at at (idempotent).
func (s *Store) RevokeSession(ctx context.Context, sid string, at time.Time) error {
	_, err := s.exec(ctx, s.q("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"), ms(at), sid)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// --- signing keys ---

// SigningKeys lists every signing key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.query(ctx, "SELECT kid, secret, created_at, retire_at FROM signing_keys ORDER BY created_at, kid")
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var c int64
		var r sql.NullInt64
		if err := rows.Scan(&k.KID, &k.Secret, &c, &r); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetireAt = fromMS(c), nullTime(r)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey inserts a new signing key and schedules every older key
// without a retirement for retireOld (old tokens stay valid until then).
func (s *Store) AddSigningKey(ctx context.Context, k SigningKey, retireOld time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("UPDATE signing_keys SET retire_at = ? WHERE retire_at IS NULL"), ms(retireOld)); err != nil {
			return fmt.Errorf("retire signing keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)"),
			k.KID, k.Secret, ms(k.CreatedAt)); err != nil {
			return fmt.Errorf("insert signing key: %w", err)
		}
		return nil
	})
}

// UserSessions lists a user's live sessions.
func (s *Store) UserSessions(ctx context.Context, username string) ([]string, error) {
	rows, err := s.query(ctx, s.q("SELECT id FROM sessions WHERE username = ? AND revoked_at IS NULL"), username)
	if err != nil {
		return nil, fmt.Errorf("user sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Prune deletes sessions that expired or were revoked before sessionsBefore
// (with their used refresh tokens) and signing keys retired before keysBefore. It answers how many rows went.
func (s *Store) Prune(ctx context.Context, sessionsBefore, keysBefore time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql string
		arg []any
	}{
		{"DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?", []any{ms(sessionsBefore), ms(sessionsBefore)}},
		{"DELETE FROM signing_keys WHERE retire_at < ?", []any{ms(keysBefore)}},
		// Used refresh tokens go with their session (deleted just above, or
		// with its user).
		{"DELETE FROM refresh_used WHERE session_id NOT IN (SELECT id FROM sessions)", nil},
	} {
		res, err := s.exec(ctx, s.q(q.sql), q.arg...)
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
