package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

// CreateAPIKey stores a new key (its hash only).
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey) error {
	_, err := s.exec(ctx, s.q(`INSERT INTO api_keys (id, name, key_hash, role, scopes, teams, rate_limit, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		k.ID, k.Name, k.Hash, k.Role, strings.Join(k.Scopes, ","), strings.Join(k.Teams, ","), k.RateLimit, k.CreatedBy,
		ms(k.CreatedAt), nullMS(k.ExpiresAt))
	if isUnique(err) {
		return database.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

const apiKeyCols = "id, name, key_hash, role, scopes, teams, rate_limit, created_by, created_at, expires_at, revoked_at"

func scanAPIKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var scopes, teams string
	var c int64
	var exp, rev sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &k.Role, &scopes, &teams, &k.RateLimit, &k.CreatedBy, &c, &exp, &rev); err != nil {
		return APIKey{}, err
	}
	k.Scopes, k.Teams, k.CreatedAt, k.ExpiresAt, k.RevokedAt = splitList(scopes), splitList(teams), fromMS(c), nullTime(exp), nullTime(rev)
	return k, nil
}

// GetAPIKey reads one key, revoked or not.
func (s *Store) GetAPIKey(ctx context.Context, id string) (APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, s.q("SELECT "+apiKeyCols+" FROM api_keys WHERE id = ?"), id))
	return k, database.NotFound(err)
}

// ListAPIKeys pages keys by id after the cursor id after.
func (s *Store) ListAPIKeys(ctx context.Context, after string, limit int) ([]APIKey, error) {
	rows, err := s.query(ctx, s.q("SELECT "+apiKeyCols+" FROM api_keys WHERE id > ? ORDER BY id LIMIT ?"), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey marks a key revoked at at; revoking twice is not an error.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, s.q("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"), ms(at), id)
	if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
		if _, gerr := s.GetAPIKey(ctx, id); gerr != nil {
			return gerr
		}
		return nil // already revoked: idempotent
	} else if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}
