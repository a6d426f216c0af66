package audit

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/platform-api/internal/identity"
)

func openLog(t *testing.T, url string) *Log {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, url, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := identity.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	l := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { t.Error("audit write failed") })
	t.Cleanup(l.Close)
	return l
}

// TestLogBothDialects writes through the queue and lists by actor with the
// id cursor on SQLite and PostgreSQL.
func TestLogBothDialects(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			url := ""
			if dialect == "postgres" {
				url = testutil.FreshPostgres(t)
			}
			l := openLog(t, url)
			ctx := context.Background()
			r := httptest.NewRequest("POST", "/api/v1/teams", nil)
			for _, actor := range []string{"ann", "bob", "ann"} {
				l.Record(r, apiv1.Principal{Subject: actor, Kind: "user"}, "POST /api/v1/teams", "::1", 201)
			}
			testutil.Eventually(t, 5*time.Second, func() bool {
				es, err := l.List(ctx, 0, "", 10)
				return err == nil && len(es) == 3
			}, "three queued entries written")
			// Synchronous write, as when the queue is full.
			if err := l.insert(ctx, []Entry{{At: time.Now(), Actor: "ann", ActorKind: "user", Action: "POST /x", Method: "POST", Path: "/x", Remote: "::1", Status: 400}}); err != nil {
				t.Fatal(err)
			}
			es, err := l.List(ctx, 0, "ann", 10)
			if err != nil || len(es) != 3 {
				t.Fatalf("ann's entries: %+v %v", es, err)
			}
			if es[0].Status != 400 || es[1].Action != "POST /api/v1/teams" || es[1].Remote != "::1" || es[1].Path != "/api/v1/teams" {
				t.Fatalf("newest first: %+v", es)
			}
			older, err := l.List(ctx, es[0].ID, "ann", 10)
			if err != nil || len(older) != 2 || older[0].ID != es[1].ID {
				t.Fatalf("page before %d: %+v %v", es[0].ID, older, err)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	l := openLog(t, "")
	ctx := context.Background()
	now := time.Now()
	if err := l.insert(ctx, []Entry{{At: now.Add(-100 * 24 * time.Hour), Actor: "a"}, {At: now.Add(-time.Hour), Actor: "b"}}); err != nil {
		t.Fatal(err)
	}
	n, err := l.Prune(ctx, now.Add(-90*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d rows (%v), want 1", n, err)
	}
	es, _ := l.List(ctx, 0, "", 10)
	if len(es) != 1 || es[0].Actor != "b" {
		t.Fatalf("audit after prune: %+v", es)
	}
}
