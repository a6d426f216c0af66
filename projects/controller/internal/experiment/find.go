package experiment

import (
	"context"
	"fmt"
	"strings"
)

// Filter narrows Find. Teams nil means every team, empty means none; State
// "" means every state.
type Filter struct {
	Teams []string
	State State
}

// Find returns up to limit experiments matching f with ids after cursor,
// by id: the API's list, filtered in the query so a page is never short
// because rows were dropped after the LIMIT.
func (s *Store) Find(ctx context.Context, f Filter, cursor string, limit int) ([]*Record, error) {
	q := `SELECT ` + columns + ` FROM experiments WHERE id > ?`
	args := []any{cursor}
	if f.Teams != nil {
		if len(f.Teams) == 0 {
			return nil, nil
		}
		q += ` AND team IN (?` + strings.Repeat(", ?", len(f.Teams)-1) + `)`
		for _, t := range f.Teams {
			args = append(args, t)
		}
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("find experiments: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("find experiments: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find experiments: %w", err)
	}
	return out, nil
}
