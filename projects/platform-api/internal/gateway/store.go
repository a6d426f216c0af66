package gateway

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/database"
)

//go:embed migrations
var migrationsFS embed.FS

// authStore is the platform-api's own tables: users, teams, API keys,
// sessions (refresh tokens), JWT signing keys and the audit log.
type authStore struct {
	db *database.Store
	// writeMu serializes this service's writes on SQLite, which allows one
	// writer at a time: queueing here is fair and immediate, where SQLite's
	// busy handler would make concurrent writers sleep and retry.
	writeMu sync.Mutex
	stmtMu  sync.Mutex
	stmts   map[string]*sql.Stmt
}

func (s *authStore) lockWrites() func() {
	if s.db.Dialect != database.SQLite {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

func (s *authStore) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer s.lockWrites()()
	return s.db.Tx(ctx, fn)
}

func (s *authStore) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	defer s.lockWrites()()
	return st.ExecContext(ctx, args...)
}

// stmt returns a cached prepared statement: parsing SQL was a third of the
// cost of a write on SQLite. The cache holds this file's fixed queries only.
func (s *authStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// errRow is a *sql.Row stand-in for a failed prepare.
type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

type scanner interface{ Scan(...any) error }

func (s *authStore) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *authStore) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func newAuthStore(ctx context.Context, db *database.Store) (*authStore, error) {
	sub, err := fsSub(migrationsFS, "migrations")
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx, "platform-api", sub); err != nil {
		return nil, err
	}
	return &authStore{db: db}, nil
}

// user is a row of users plus its teams.
type user struct {
	Username     string
	PasswordHash string
	Role         string
	Teams        []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

type apiKeyRow struct {
	ID        string
	Name      string
	Hash      string
	Role      string
	Scopes    []string
	Teams     []string
	RateLimit int
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

type session struct {
	ID        string
	Username  string
	ExpiresAt time.Time
	RevokedAt *time.Time
}

type signingKeyRow struct {
	KID       string
	Secret    string // sealed
	CreatedAt time.Time
	RetireAt  *time.Time
}

type auditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorKind string    `json:"actor_kind"`
	Action    string    `json:"action"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Remote    string    `json:"remote"`
	Status    int       `json:"status"`
	RequestID string    `json:"request_id"`
}

// isUnique reports a unique-constraint violation on SQLite or PostgreSQL.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "duplicate key value")
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// encodeCursor and decodeCursor make list cursors opaque.
func encodeCursor(key string) *string {
	c := base64.RawURLEncoding.EncodeToString([]byte(key))
	return &c
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > 256 {
		return "", errors.New("malformed cursor")
	}
	return string(b), nil
}

func (s *authStore) q(query string) string { return s.db.Rebind(query) }

// --- users ---

func (s *authStore) countUsers(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

func (s *authStore) createUser(ctx context.Context, u user) error {
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

func (s *authStore) setTeams(ctx context.Context, tx *sql.Tx, username string, teams []string) error {
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

func (s *authStore) getUser(ctx context.Context, username string) (user, error) {
	var u user
	var c, up int64
	err := s.queryRow(ctx, s.q("SELECT username, password_hash, role, created_at, updated_at FROM users WHERE username = ?"),
		username).Scan(&u.Username, &u.PasswordHash, &u.Role, &c, &up)
	if err != nil {
		return user{}, database.NotFound(err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(c), fromMS(up)
	u.Teams, err = s.userTeams(ctx, username)
	return u, err
}

func (s *authStore) userTeams(ctx context.Context, username string) ([]string, error) {
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

func (s *authStore) listUsers(ctx context.Context, after string, limit int) ([]user, error) {
	rows, err := s.query(ctx, s.q("SELECT username, role, created_at, updated_at FROM users WHERE username > ? ORDER BY username LIMIT ?"),
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []user
	for rows.Next() {
		var u user
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

// updateUser changes role, password hash and/or teams (nil = unchanged).
func (s *authStore) updateUser(ctx context.Context, username string, role, hash *string, teams *[]string) error {
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

func (s *authStore) deleteUser(ctx context.Context, username string) error {
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

// --- teams ---

type team struct {
	Name      string
	Members   []string
	CreatedAt time.Time
}

func (s *authStore) createTeam(ctx context.Context, name string) error {
	_, err := s.exec(ctx, s.q("INSERT INTO teams (name, created_at) VALUES (?, ?)"), name, ms(time.Now()))
	if isUnique(err) {
		return database.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("insert team: %w", err)
	}
	return nil
}

func (s *authStore) getTeam(ctx context.Context, name string) (team, error) {
	var t team
	var c int64
	if err := s.queryRow(ctx, s.q("SELECT name, created_at FROM teams WHERE name = ?"), name).Scan(&t.Name, &c); err != nil {
		return team{}, database.NotFound(err)
	}
	t.CreatedAt = fromMS(c)
	rows, err := s.query(ctx, s.q("SELECT username FROM team_members WHERE team = ? ORDER BY username"), name)
	if err != nil {
		return team{}, fmt.Errorf("team members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return team{}, err
		}
		t.Members = append(t.Members, u)
	}
	return t, rows.Err()
}

// listTeams lists all teams (only == nil) or those named in only.
func (s *authStore) listTeams(ctx context.Context, only []string, after string, limit int) ([]team, error) {
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
		if only == nil || contains(only, n) {
			names = append(names, n)
		}
	}
	rows.Close()
	out := make([]team, 0, len(names))
	for _, n := range names {
		t, err := s.getTeam(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (s *authStore) deleteTeam(ctx context.Context, name string) error {
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

func (s *authStore) addMember(ctx context.Context, teamName, username string) error {
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

func (s *authStore) removeMember(ctx context.Context, teamName, username string) error {
	res, err := s.exec(ctx, s.q("DELETE FROM team_members WHERE team = ? AND username = ?"), teamName, username)
	if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
		return database.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}

// --- API keys ---

func (s *authStore) createAPIKey(ctx context.Context, k apiKeyRow) error {
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

func scanAPIKey(sc interface{ Scan(...any) error }) (apiKeyRow, error) {
	var k apiKeyRow
	var scopes, teams string
	var c int64
	var exp, rev sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Hash, &k.Role, &scopes, &teams, &k.RateLimit, &k.CreatedBy, &c, &exp, &rev); err != nil {
		return apiKeyRow{}, err
	}
	k.Scopes, k.Teams, k.CreatedAt, k.ExpiresAt, k.RevokedAt = splitList(scopes), splitList(teams), fromMS(c), nullTime(exp), nullTime(rev)
	return k, nil
}

func (s *authStore) getAPIKey(ctx context.Context, id string) (apiKeyRow, error) {
	k, err := scanAPIKey(s.queryRow(ctx, s.q("SELECT "+apiKeyCols+" FROM api_keys WHERE id = ?"), id))
	return k, database.NotFound(err)
}

func (s *authStore) listAPIKeys(ctx context.Context, after string, limit int) ([]apiKeyRow, error) {
	rows, err := s.query(ctx, s.q("SELECT "+apiKeyCols+" FROM api_keys WHERE id > ? ORDER BY id LIMIT ?"), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []apiKeyRow
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *authStore) revokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, s.q("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"), ms(at), id)
	if err := database.ExpectOne(res, err); errors.Is(err, database.ErrConflict) {
		if _, gerr := s.getAPIKey(ctx, id); gerr != nil {
			return gerr
		}
		return nil // already revoked: idempotent
	} else if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}

// --- sessions ---

func (s *authStore) createSession(ctx context.Context, id, username, refreshHash, remote string, expires time.Time) error {
	_, err := s.exec(ctx, s.q("INSERT INTO sessions (id, username, refresh_hash, created_at, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)"),
		id, username, refreshHash, ms(time.Now()), ms(expires), remote)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func (s *authStore) sessionByRefresh(ctx context.Context, refreshHash string) (session, error) {
	var se session
	var exp int64
	var rev sql.NullInt64
	err := s.queryRow(ctx, s.q("SELECT id, username, expires_at, revoked_at FROM sessions WHERE refresh_hash = ?"), refreshHash).
		Scan(&se.ID, &se.Username, &exp, &rev)
	if err != nil {
		return session{}, database.NotFound(err)
	}
	se.ExpiresAt, se.RevokedAt = fromMS(exp), nullTime(rev)
	return se, nil
}

func (s *authStore) getSession(ctx context.Context, id string) (session, error) {
	var se session
	var exp int64
	var rev sql.NullInt64
	err := s.queryRow(ctx, s.q("SELECT id, username, expires_at, revoked_at FROM sessions WHERE id = ?"), id).
		Scan(&se.ID, &se.Username, &exp, &rev)
	if err != nil {
		return session{}, database.NotFound(err)
	}
	se.ExpiresAt, se.RevokedAt = fromMS(exp), nullTime(rev)
	return se, nil
}

// rotateRefresh swaps the refresh token of a live session; a stale token
// (already rotated) matches no row and gets ErrConflict.
func (s *authStore) rotateRefresh(ctx context.Context, sid, oldHash, newHash string) error {
	res, err := s.exec(ctx, s.q("UPDATE sessions SET refresh_hash = ? WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL"),
		newHash, sid, oldHash)
	return database.ExpectOne(res, err)
}

func (s *authStore) revokeSession(ctx context.Context, sid string, at time.Time) error {
	_, err := s.exec(ctx, s.q("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"), ms(at), sid)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// --- signing keys ---

func (s *authStore) signingKeys(ctx context.Context) ([]signingKeyRow, error) {
	rows, err := s.query(ctx, "SELECT kid, secret, created_at, retire_at FROM signing_keys ORDER BY created_at, kid")
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	var out []signingKeyRow
	for rows.Next() {
		var k signingKeyRow
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

// addSigningKey inserts a new signing key and schedules every older key
// without a retirement for retireOld (old tokens stay valid until then).
func (s *authStore) addSigningKey(ctx context.Context, k signingKeyRow, retireOld time.Time) error {
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

// --- audit ---

func (s *authStore) insertAudit(ctx context.Context, entries []auditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO audit_log (at, actor, actor_kind, action, method, path, remote, status, request_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return fmt.Errorf("prepare audit insert: %w", err)
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, ms(e.At), e.Actor, e.ActorKind, e.Action, e.Method, e.Path, e.Remote, e.Status, e.RequestID); err != nil {
				return fmt.Errorf("insert audit entry: %w", err)
			}
		}
		return nil
	})
}

// listAudit answers newest first; before is an id cursor (0 = from newest).
func (s *authStore) listAudit(ctx context.Context, before int64, actor string, limit int) ([]auditEntry, error) {
	q := "SELECT id, at, actor, actor_kind, action, method, path, remote, status, request_id FROM audit_log WHERE 1 = 1"
	var args []any
	if before > 0 {
		q += " AND id < ?"
		args = append(args, before)
	}
	if actor != "" {
		q += " AND actor = ?"
		args = append(args, actor)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.query(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []auditEntry
	for rows.Next() {
		var e auditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorKind, &e.Action, &e.Method, &e.Path, &e.Remote, &e.Status, &e.RequestID); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// userSessions lists a user's live sessions.
func (s *authStore) userSessions(ctx context.Context, username string) ([]string, error) {
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

func (s *authStore) countAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, s.q("SELECT COUNT(*) FROM users WHERE role = ?"), roleAdmin).Scan(&n)
	return n, err
}

// prune deletes audit entries older than auditBefore, sessions that expired
// or were revoked before sessionsBefore, and signing keys retired before
// keysBefore. It answers how many rows went.
func (s *authStore) prune(ctx context.Context, auditBefore, sessionsBefore, keysBefore time.Time) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql string
		arg []any
	}{
		{"DELETE FROM audit_log WHERE at < ?", []any{ms(auditBefore)}},
		{"DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?", []any{ms(sessionsBefore), ms(sessionsBefore)}},
		{"DELETE FROM signing_keys WHERE retire_at < ?", []any{ms(keysBefore)}},
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
