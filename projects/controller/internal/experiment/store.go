package experiment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationService names the goose version table (goose_controller_experiment):
// the fleet tables use "controller", and each set needs its own versions.
const migrationService = "controller-experiment"

// Record is one stored experiment.
type Record struct {
	ID        string     `json:"id"`
	Team      string     `json:"team"`
	Spec      Experiment `json:"spec"`
	State     State      `json:"state"`
	Version   int64      `json:"version"`
	Progress  Progress   `json:"progress"`
	Results   *Results   `json:"results"` // nil until analyzed
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Name is the experiment's name, the first part of its streams.
func (r *Record) Name() string { return r.Spec.Metadata.Name }

// Live reports whether the experiment still needs the runner: its state is
// not final, or it stopped while its agents may still run its config. A
// live experiment keeps its name (and its streams) to itself.
func (r *Record) Live() bool { return !r.State.Terminal() || r.cleanupPending() }

// HoldsAgents reports whether the experiment's config may be on its
// agents, so no other experiment or promotion may touch them.
func (r *Record) HoldsAgents() bool { return r.State.Agents() || r.cleanupPending() }

// cleanupPending: stopped (by a user, a fault or a failed promotion)
// before the runner gave the agents their previous configs back.
func (r *Record) cleanupPending() bool {
	switch r.State {
	case Cancelled, Errored, RolledBack:
		return len(r.Progress.Agents) > 0 && !r.Progress.Restored
	}
	return false
}

// Transition is one entry of an experiment's log: who or what moved it,
// when, and why.
type Transition struct {
	ExperimentID string    `json:"experiment_id"`
	Seq          int64     `json:"seq"`
	From         State     `json:"from"` // empty for the create entry
	To           State     `json:"to"`
	Event        Event     `json:"event"`
	Actor        string    `json:"actor"`
	Reason       string    `json:"reason"`
	At           time.Time `json:"at"`
}

// Store keeps experiments and their transition logs in SQLite or
// PostgreSQL. Every write names the version it read and is refused with a
// 409 wrapping database.ErrConflict when the row changed since.
type Store struct {
	db  *database.Store
	now func() time.Time
}

// NewStore returns a store over db; Migrate creates its tables.
func NewStore(db *database.Store) *Store { return &Store{db: db, now: time.Now} }

// Migrate creates or upgrades the experiment tables.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.db.Migrate(ctx, migrationService, migrations); err != nil {
		return fmt.Errorf("experiment migrations: %w", err)
	}
	return nil
}

// NewID returns an experiment id: "exp-" and 16 random hex digits.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "exp-" + hex.EncodeToString(b[:])
}

const columns = `id, team, spec, state, version, progress, results, created_by, created_at_ms, updated_at_ms`

// Create stores a new experiment in state draft (or pending, when it is
// created and started in one call) with version 1, and logs its creation.
// A live experiment of the same name is a 409.
func (s *Store) Create(ctx context.Context, r *Record, actor, reason string) error {
	if r.State == "" {
		r.State = Draft
	}
	if r.State != Draft && r.State != Pending {
		return fmt.Errorf("create experiment in state %s: only draft or pending", r.State)
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	r.Version, r.CreatedBy, r.CreatedAt, r.UpdatedAt = 1, actor, now, now
	spec, progress, results, err := encodeDocs(r)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO experiments
			(`+columns+`, name, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			r.ID, r.Team, spec, string(r.State), r.Version, progress, results, r.CreatedBy,
			ms(r.CreatedAt), ms(r.UpdatedAt), r.Name(), activeFlag(r))
		if err != nil {
			if isUnique(err) {
				return problem.Conflict("an experiment named %s is still live (its streams are %s--<variant>); "+
					"wait for it to finish or choose another name", r.Name(), r.Name()).Wrap(database.ErrConflict)
			}
			return fmt.Errorf("insert experiment: %w", err)
		}
		// The log starts with the creation, and a created-and-started
		// experiment shows both steps.
		if err := s.log(ctx, tx, Transition{ExperimentID: r.ID, Seq: 1, To: Draft, Event: EvCreate, Actor: actor, Reason: reason, At: now}); err != nil {
			return err
		}
		if r.State == Pending {
			return s.log(ctx, tx, Transition{ExperimentID: r.ID, Seq: 2, From: Draft, To: Pending, Event: EvStart, Actor: actor, Reason: reason, At: now})
		}
		return nil
	})
}

// Get returns one experiment, or a 404 wrapping database.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Record, error) {
	return s.get(ctx, s.db.DB, id)
}

func (s *Store) get(ctx context.Context, q database.Querier, id string) (*Record, error) {
	row := q.QueryRowContext(ctx, s.db.Rebind(`SELECT `+columns+` FROM experiments WHERE id = ?`), id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, problem.NotFound("experiment %s not found", id).Wrap(database.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get experiment %s: %w", id, err)
	}
	return r, nil
}

// List returns up to limit experiments with ids after cursor, by id.
// teams restricts the answer; nil means every team. activeOnly keeps the
// live ones (Record.Live: what a restarted runner resumes).
func (s *Store) List(ctx context.Context, teams []string, activeOnly bool, cursor string, limit int) ([]*Record, error) {
	q := `SELECT ` + columns + ` FROM experiments WHERE id > ?`
	args := []any{cursor}
	if teams != nil {
		if len(teams) == 0 {
			return nil, nil
		}
		q += ` AND team IN (?` + strings.Repeat(", ?", len(teams)-1) + `)`
		for _, t := range teams {
			args = append(args, t)
		}
	}
	if activeOnly {
		q += ` AND active = 1`
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list experiments: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	return out, nil
}

// Apply moves experiment id, read at version, by ev: the new state, the
// changes mutate makes (progress, results; may be nil) and the log entry
// are written in one transaction. An illegal event or a stale version is a
// 409 and writes nothing. It returns the stored record.
func (s *Store) Apply(ctx context.Context, id string, version int64, ev Event, actor, reason string, mutate func(*Record)) (*Record, error) {
	var out *Record
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.Version != version {
			return conflict(id, version)
		}
		to, err := Next(r.State, ev)
		if err != nil {
			return problem.Conflict("experiment %s is %s: %s refused", id, r.State, ev).Wrap(err)
		}
		from := r.State
		r.State = to
		if mutate != nil {
			mutate(r)
		}
		if err := s.update(ctx, tx, r, version); err != nil {
			return err
		}
		seq, err := s.nextSeq(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.log(ctx, tx, Transition{ExperimentID: id, Seq: seq, From: from, To: to, Event: ev,
			Actor: actor, Reason: reason, At: r.UpdatedAt}); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Save writes r's spec (drafts only), progress and results, if r.Version
// is still the stored one; the state is changed only by Apply. On success
// r carries the new version.
func (s *Store) Save(ctx context.Context, r *Record) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.get(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version {
			return conflict(r.ID, r.Version)
		}
		if cur.State != r.State {
			return fmt.Errorf("save experiment %s: state changes go through Apply", r.ID)
		}
		if cur.State != Draft {
			spec, _ := json.Marshal(cur.Spec)
			mine, _ := json.Marshal(r.Spec)
			if string(spec) != string(mine) {
				return problem.Conflict("experiment %s is %s: only a draft's spec can change", r.ID, cur.State)
			}
		}
		next := *r
		if err := s.update(ctx, tx, &next, r.Version); err != nil {
			return err
		}
		*r = next
		return nil
	})
}

// Delete removes a draft read at version, with its log.
func (s *Store) Delete(ctx context.Context, id string, version int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		r, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.Version != version {
			return conflict(id, version)
		}
		if r.State != Draft {
			return problem.Conflict("experiment %s is %s: only a draft can be deleted", id, r.State)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM experiment_transitions WHERE experiment_id = ?`), id); err != nil {
			return fmt.Errorf("delete experiment %s: %w", id, err)
		}
		err = database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM experiments WHERE id = ? AND version = ?`), id, version))
		if errors.Is(err, database.ErrConflict) {
			return conflict(id, version)
		}
		return err
	})
}

// Transitions returns up to limit log entries of id with seq above after,
// oldest first.
func (s *Store) Transitions(ctx context.Context, id string, after int64, limit int) ([]Transition, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT experiment_id, seq, from_state, to_state, event,
		actor, reason, at_ms FROM experiment_transitions WHERE experiment_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("transitions of %s: %w", id, err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var (
			t        Transition
			from, to string
			ev       string
			at       int64
		)
		if err := rows.Scan(&t.ExperimentID, &t.Seq, &from, &to, &ev, &t.Actor, &t.Reason, &at); err != nil {
			return nil, fmt.Errorf("transitions of %s: %w", id, err)
		}
		t.From, t.To, t.Event, t.At = State(from), State(to), Event(ev), fromMS(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("transitions of %s: %w", id, err)
	}
	return out, nil
}

// Unpublished returns up to limit transitions not yet published on
// PHOENIX_EVENTS, oldest first per experiment: the outbox a publisher
// drains, so a transition written just before a crash is still announced.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]Transition, error) {
	rows, err := s.db.DB.QueryContext(ctx, s.db.Rebind(`SELECT t.experiment_id, t.seq, t.from_state, t.to_state,
		t.event, t.actor, t.reason, t.at_ms FROM experiment_transitions t JOIN experiments e ON e.id = t.experiment_id
		WHERE t.seq > e.published_seq ORDER BY t.at_ms, t.experiment_id, t.seq LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("unpublished transitions: %w", err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var (
			t            Transition
			from, to, ev string
			at           int64
		)
		if err := rows.Scan(&t.ExperimentID, &t.Seq, &from, &to, &ev, &t.Actor, &t.Reason, &at); err != nil {
			return nil, fmt.Errorf("unpublished transitions: %w", err)
		}
		t.From, t.To, t.Event, t.At = State(from), State(to), Event(ev), fromMS(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unpublished transitions: %w", err)
	}
	return out, nil
}

// MarkPublished advances id's outbox cursor to seq. It only moves forward,
// which is its concurrency check: the cursor is the publisher's and leaves
// the experiment's version alone, so publishing never makes a runner's or
// a user's write stale.
func (s *Store) MarkPublished(ctx context.Context, id string, seq int64) error {
	_, err := s.db.DB.ExecContext(ctx, s.db.Rebind(`UPDATE experiments SET published_seq = ? WHERE id = ? AND published_seq < ?`), seq, id, seq)
	if err != nil {
		return fmt.Errorf("mark %s published to %d: %w", id, seq, err)
	}
	return nil
}

// update writes r over the row at version and bumps r.Version.
func (s *Store) update(ctx context.Context, tx *sql.Tx, r *Record, version int64) error {
	r.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
	r.Version = version + 1
	spec, progress, results, err := encodeDocs(r)
	if err != nil {
		return err
	}
	err = database.ExpectOne(tx.ExecContext(ctx, s.db.Rebind(`UPDATE experiments SET spec = ?, state = ?, active = ?,
		version = ?, progress = ?, results = ?, updated_at_ms = ? WHERE id = ? AND version = ?`),
		spec, string(r.State), activeFlag(r), r.Version, progress, results, ms(r.UpdatedAt), r.ID, version))
	if errors.Is(err, database.ErrConflict) {
		return conflict(r.ID, version)
	}
	if err != nil {
		return fmt.Errorf("update experiment %s: %w", r.ID, err)
	}
	return nil
}

func (s *Store) nextSeq(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT COALESCE(MAX(seq), 0) + 1 FROM experiment_transitions WHERE experiment_id = ?`), id).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("next transition of %s: %w", id, err)
	}
	return seq, nil
}

func (s *Store) log(ctx context.Context, tx *sql.Tx, t Transition) error {
	_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO experiment_transitions
		(experiment_id, seq, from_state, to_state, event, actor, reason, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		t.ExperimentID, t.Seq, string(t.From), string(t.To), string(t.Event), t.Actor, t.Reason, ms(t.At))
	if err != nil {
		return fmt.Errorf("log transition of %s: %w", t.ExperimentID, err)
	}
	return nil
}

func conflict(id string, version int64) error {
	return problem.Conflict("experiment %s changed since version %d; read it again", id, version).Wrap(database.ErrConflict)
}

func encodeDocs(r *Record) (spec, progress, results string, err error) {
	b, err := json.Marshal(r.Spec)
	if err != nil {
		return "", "", "", fmt.Errorf("encode spec: %w", err)
	}
	p, err := json.Marshal(r.Progress)
	if err != nil {
		return "", "", "", fmt.Errorf("encode progress: %w", err)
	}
	if r.Results != nil {
		res, err := json.Marshal(r.Results)
		if err != nil {
			return "", "", "", fmt.Errorf("encode results: %w", err)
		}
		results = string(res)
	}
	return string(b), string(p), results, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(sc scanner) (*Record, error) {
	var (
		r                      Record
		spec, state, prog, res string
		created, updated       int64
	)
	if err := sc.Scan(&r.ID, &r.Team, &spec, &state, &r.Version, &prog, &res, &r.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &r.Spec); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(prog), &r.Progress); err != nil {
		return nil, fmt.Errorf("decode progress of %s: %w", r.ID, err)
	}
	if res != "" {
		r.Results = &Results{}
		if err := json.Unmarshal([]byte(res), r.Results); err != nil {
			return nil, fmt.Errorf("decode results of %s: %w", r.ID, err)
		}
	}
	r.State = State(state)
	r.CreatedAt, r.UpdatedAt = fromMS(created), fromMS(updated)
	return &r, nil
}

// isUnique reports a unique-constraint violation on either database.
func isUnique(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func activeFlag(r *Record) int {
	if r.Live() {
		return 1
	}
	return 0
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
