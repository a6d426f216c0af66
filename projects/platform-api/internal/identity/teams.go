package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

// Team is a row of teams with its members' names.
type Team struct {
	Name      string
	Members   []string
	CreatedAt time.Time
}

// CreateTeam inserts a team; a duplicate name is database.ErrConflict.
func (s *Store) CreateTeam(ctx context.Context, name string) error {
	_, err := s.exec(ctx, s.q("INSERT INTO teams (name, created_at) VALUES (?, ?)"), name, ms(time.Now()))
	if isUnique(err) {
		return database.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert team: %w", err)
	}
	return nil
}

// GetTeam reads one team with its members.
func (s *Store) GetTeam(ctx context.Context, name string) (Team, error) {
	var t Team
	var c int64
	if err := s.queryRow(ctx, s.q("SELECT name, created_at FROM teams WHERE name = ?"), name).Scan(&t.Name, &c); err != nil {
		return Team{}, database.NotFound(err)
	}
	t.CreatedAt = fromMS(c)
	rows, err := s.query(ctx, s.q("SELECT username FROM team_members WHERE team = ? ORDER BY username"), name)
	if err != nil {
		return Team{}, fmt.Errorf("team members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return Team{}, err
		}
		t.Members = append(t.Members, u)
	}
	return t, rows.Err()
}

// ListTeams lists all teams (only == nil) or those named in only.
func (s *Store) ListTeams(ctx context.Context, only []string, after string, limit int) ([]Team, error) {
	rows, err := s.query(ctx, s.q("SELECT name FROM teams WHERE name > ? ORDER BY name"), after)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	var names []string
	for rows.Next() && len(names) < limit {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		if only == nil || slices.Contains(only, n) {
			names = append(names, n)
		}
	}
	rows.Close()
	out := make([]Team, 0, len(names))
	for _, n := range names {
		t, err := s.GetTeam(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteTeam deletes a team and its memberships.
func (s *Store) DeleteTeam(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM team_members WHERE team = ?"), name); err != nil {
			return fmt.Errorf("delete team: %w", err)
		}
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM teams WHERE name = ?"), name)
		if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
			return database.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("delete team: %w", err)
		}
		return nil
	})
}

// AddMember makes username a member of teamName (idempotent).
func (s *Store) AddMember(ctx context.Context, teamName, username string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q("SELECT (SELECT COUNT(*) FROM teams WHERE name = ?) + (SELECT COUNT(*) FROM users WHERE username = ?)"),
			teamName, username).Scan(&n); err != nil {
			return err
		}
		if n != 2 {
			return database.ErrNotFound
		}
		var m int
		if err := tx.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM team_members WHERE team = ? AND username = ?"), teamName, username).Scan(&m); err != nil {
			return err
		}
		if m > 0 {
			return nil // idempotent PUT
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO team_members (team, username) VALUES (?, ?)"), teamName, username)
		return err
	})
}

// RemoveMember ends a membership; none is database.ErrNotFound.
func (s *Store) RemoveMember(ctx context.Context, teamName, username string) error {
	res, err := s.exec(ctx, s.q("DELETE FROM team_members WHERE team = ? AND username = ?"), teamName, username)
	if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
		return database.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}
