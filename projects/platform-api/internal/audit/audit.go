// Package audit is the platform-api's audit log: every state-changing
// request and every login, written in batches by one writer, never dropped,
// listed newest first and pruned after the configured retention.
package audit

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
)

// auditQueue bounds entries waiting for the writer. When it is full the
// request that produced the entry writes it itself: the audit log never
// drops an entry, and memory stays bounded.
const auditQueue = 4096

// auditBatch is the most entries written in one transaction.
const auditBatch = 256

// Entry is one audited request.
type Entry struct {
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

// DB is what the log needs of the service's database: the identity store
// provides it, so audit writes queue behind the same SQLite write lock.
type DB interface {
	Tx(ctx context.Context, fn func(tx *sql.Tx) error) error
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	Rebind(query string) string
}

// Log is the audit log and its background writer.
type Log struct {
	db     DB
	logger *slog.Logger
	ch     chan Entry
	done   chan struct{}
	once   sync.Once
	failed func()
}

// New starts the writer; failed is called for each batch that could not be
// written (a metric).
func New(db DB, logger *slog.Logger, failed func()) *Log {
	a := &Log{db: db, logger: logger, ch: make(chan Entry, auditQueue), done: make(chan struct{}), failed: failed}
	go a.run()
	return a
}

// Record notes one state-changing request or login: action is the
// operation ("POST /api/v1/users/{user}"), remote the client address.
func (a *Log) Record(r *http.Request, p apiv1.Principal, action, remote string, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	e := Entry{
		At: time.Now().UTC(), Actor: p.Subject, ActorKind: p.Kind, Action: action,
		Method: r.Method, Path: r.URL.Path, Remote: remote, Status: status, RequestID: httpx.RequestID(r.Context()),
	}
	a.add(e)
}

func (a *Log) add(e Entry) {
	select {
	case a.ch <- e:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.write(ctx, []Entry{e})
	}
}

func (a *Log) run() {
	defer close(a.done)
	batch := make([]Entry, 0, auditBatch)
	for e := range a.ch {
		batch = append(batch[:0], e)
	fill:
		for len(batch) < auditBatch {
			select {
			case e, ok := <-a.ch:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.write(ctx, batch)
		cancel()
	}
}

func (a *Log) write(ctx context.Context, batch []Entry) {
	if err := a.insert(ctx, batch); err != nil {
		a.failed()
		a.logger.Error("audit write failed", "entries", len(batch), "error", err)
	}
}

// Close writes what is queued and stops the writer.
func (a *Log) Close() {
	a.once.Do(func() {
		close(a.ch)
		<-a.done
	})
}

func (a *Log) insert(ctx context.Context, entries []Entry) error {
	return a.db.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, a.db.Rebind(`INSERT INTO audit_log (at, actor, actor_kind, action, method, path, remote, status, request_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return fmt.Errorf("prepare audit insert: %w", err)
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, e.At.UnixMilli(), e.Actor, e.ActorKind, e.Action, e.Method, e.Path, e.Remote, e.Status, e.RequestID); err != nil {
				return fmt.Errorf("insert audit entry: %w", err)
			}
		}
		return nil
	})
}

// List answers newest first; before is an id cursor (0 = from newest).
func (a *Log) List(ctx context.Context, before int64, actor string, limit int) ([]Entry, error) {
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
	rows, err := a.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.ActorKind, &e.Action, &e.Method, &e.Path, &e.Remote, &e.Status, &e.RequestID); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Prune deletes entries older than before and answers how many went.
func (a *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := a.db.Exec(ctx, "DELETE FROM audit_log WHERE at < ?", before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
