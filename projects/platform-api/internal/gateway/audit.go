package gateway

import (
	"context"
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

type auditLog struct {
	store  *authStore
	logger *slog.Logger
	ch     chan auditEntry
	done   chan struct{}
	once   sync.Once
	failed func()
}

func newAuditLog(st *authStore, logger *slog.Logger, failed func()) *auditLog {
	a := &auditLog{store: st, logger: logger, ch: make(chan auditEntry, auditQueue), done: make(chan struct{}), failed: failed}
	go a.run()
	return a
}

// record notes one state-changing request or login.
func (a *auditLog) record(r *http.Request, p apiv1.Principal, pol policy, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	e := auditEntry{
		At: time.Now().UTC(), Actor: p.Subject, ActorKind: p.Kind, Action: pol.Method + " " + pol.Path,
		Method: r.Method, Path: r.URL.Path, Remote: clientIP(r), Status: status, RequestID: httpx.RequestID(r.Context()),
	}
	a.add(e)
}

func (a *auditLog) add(e auditEntry) {
	select {
	case a.ch <- e:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.write(ctx, []auditEntry{e})
	}
}

func (a *auditLog) run() {
	defer close(a.done)
	batch := make([]auditEntry, 0, auditBatch)
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

func (a *auditLog) write(ctx context.Context, batch []auditEntry) {
	if err := a.store.insertAudit(ctx, batch); err != nil {
		a.failed()
		a.logger.Error("audit write failed", "entries", len(batch), "error", err)
	}
}

// close writes what is queued and stops the writer.
func (a *auditLog) close() {
	a.once.Do(func() {
		close(a.ch)
		<-a.done
	})
}
