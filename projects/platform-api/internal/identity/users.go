package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

// CountUsers answers how many users exist (zero before the bootstrap admin).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

// CreateUser inserts a user and its memberships; a duplicate name is
// database.ErrConflict, an unknown team database.ErrNotFound.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	now := ms(time.Now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"),
			u.Username, u.PasswordHash, u.Role, now, now)
		if isUnique(err) {
			return database.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		return s.setTeams(ctx, tx, u.Username, u.Teams)
	})
}

func (s *Store) setTeams(ctx context.Context, tx *sql.Tx, username string, teams []string) error {
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM team_members WHERE username = ?"), username); err != nil {
		return fmt.Errorf("clear teams: %w", err)
	}
	for _, t := range teams {
		var n int
		if err := tx.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM teams WHERE name = ?"), t).Scan(&n); err != nil {
			return fmt.Errorf("check team: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("team %q: %w", t, database.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO team_members (team, username) VALUES (?, ?)"), t, username); err != nil {
			return fmt.Errorf("add member: %w", err)
		}
	}
	return nil
}

// GetUser reads one user with its teams.
func (s *Store) GetUser(ctx context.Context, username string) (User, error) {
	var u User
	var c, up int64
	err := s.queryRow(ctx, s.q("SELECT username, password_hash, role, created_at, updated_at FROM users WHERE username = ?"),
		username).Scan(&u.Username, &u.PasswordHash, &u.Role, &c, &up)
	if err != nil {
		return User{}, database.NotFound(err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(c), fromMS(up)
	u.Teams, err = s.userTeams(ctx, username)
	return u, err
}

func (s *Store) userTeams(ctx context.Context, username string) ([]string, error) {
	rows, err := s.query(ctx, s.q("SELECT team FROM team_members WHERE username = ? ORDER BY team"), username)
	if err != nil {
		return nil, fmt.Errorf("user teams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ListUsers pages users by name after the cursor name after.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	rows, err := s.query(ctx, s.q("SELECT username, role, created_at, updated_at FROM users WHERE username > ? ORDER BY username LIMIT ?"),
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []User
	for rows.Next() {
		var u User
		var c, up int64
		if err := rows.Scan(&u.Username, &u.Role, &c, &up); err != nil {
			rows.Close()
			return nil, err
		}
		u.CreatedAt, u.UpdatedAt = fromMS(c), fromMS(up)
		out = append(out, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Teams, err = s.userTeams(ctx, out[i].Username); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateUser changes role, password hash and/or teams (nil = unchanged).
func (s *Store) UpdateUser(ctx context.Context, username string, role, hash *string, teams *[]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM users WHERE username = ?"), username).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return database.ErrNotFound
		}
		now := ms(time.Now())
		if role != nil {
			if _, err := tx.ExecContext(ctx, s.q("UPDATE users SET role = ?, updated_at = ? WHERE username = ?"), *role, now, username); err != nil {
				return fmt.Errorf("update role: %w", err)
			}
		}
		if hash != nil {
			if _, err := tx.ExecContext(ctx, s.q("UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?"), *hash, now, username); err != nil {
				return fmt.Errorf("update password: %w", err)
			}
		}
		if teams != nil {
			return s.setTeams(ctx, tx, username, *teams)
		}
		return nil
	})
}

// DeleteUser deletes a user, its memberships and its sessions.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Explicit deletes: foreign-key cascades are not enabled on every
		// SQLite connection string a deployment may use.
		for _, q := range []string{"DELETE FROM team_members WHERE username = ?", "DELETE FROM sessions WHERE username = ?"} {
			if _, err := tx.ExecContext(ctx, s.q(q), username); err != nil {
				return fmt.Errorf("delete user: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM users WHERE username = ?"), username)
		if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
			return database.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		return nil
	})
}

// CountByRole answers how many users hold role (the last admin is kept).
func (s *Store) CountByRole(ctx context.Context, role string) (int, error) {
	var n int
	err := s.queryRow(ctx, s.q("SELECT COUNT(*) FROM users WHERE role = ?"), role).Scan(&n)
	return n, err
}
