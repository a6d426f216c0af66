package store

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// stores opens a migrated store per dialect (PostgreSQL when reachable).
func stores(t *testing.T) map[string]*Store {
	ctx := context.Background()
	urls := map[string]string{"sqlite": ""}
	if testutil.PostgresReachable() {
		urls["postgres"] = testutil.FreshPostgres(t)
	}
	out := map[string]*Store{}
	for name, url := range urls {
		db, err := database.Open(ctx, url, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if _, err := db.Migrate(ctx, "anomaly-detector", os.DirFS("../../migrations")); err != nil {
			t.Fatal(err)
		}
		out[name] = New(db)
	}
	return out
}

func TestAlertLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for dialect, s := range stores(t) {
		t.Run(dialect, func(t *testing.T) {
			a := apiv1.Alert{Rule: apiv1.RuleExplosion, Severity: apiv1.SeverityHigh, Stream: "checkout", Team: "team-a",
				Metric: "http.server.duration", Label: "request_id", Signal: "active_series", Summary: "first", Value: 14000, Baseline: 2000,
				Attribution: &apiv1.Attribution{NewValues: 12400, Baseline: true}}
			first, created, err := s.Fire(ctx, a, now)
			if err != nil || !created || first.State != apiv1.AlertFiring {
				t.Fatalf("fire: %+v %v %v", first, created, err)
			}
			a.Summary, a.Value = "again", 15000
			again, created, err := s.Fire(ctx, a, now.Add(time.Minute))
			if err != nil || created || again.ID != first.ID || again.Summary != "again" || again.Baseline != 2000 || again.Attribution.NewValues != 12400 {
				t.Fatalf("deduplicated fire: %+v %v %v", again, created, err)
			}
			acked, changed, err := s.Acknowledge(ctx, first.ID, "alice", now.Add(2*time.Minute))
			if err != nil || !changed || acked.State != apiv1.AlertAcknowledged || acked.AcknowledgedBy != "alice" {
				t.Fatalf("ack: %+v %v %v", acked, changed, err)
			}
			if _, changed, _ := s.Acknowledge(ctx, first.ID, "bob", now); changed {
				t.Error("second ack changed the alert")
			}
			open, err := s.Open(ctx)
			if err != nil || len(open) != 1 {
				t.Fatalf("open: %d %v", len(open), err)
			}
			res, changed, err := s.Resolve(ctx, first.ID, "auto", now.Add(3*time.Minute))
			if err != nil || !changed || res.State != apiv1.AlertResolved || res.ResolvedAt == nil || !res.ResolvedAt.Equal(now.Add(3*time.Minute)) {
				t.Fatalf("resolve: %+v %v %v", res, changed, err)
			}
			if _, _, err := s.Acknowledge(ctx, first.ID, "alice", now); !errors.Is(err, ErrState) {
				t.Errorf("ack resolved: %v, want ErrState", err)
			}
			// The condition again: a new alert.
			next, created, err := s.Fire(ctx, a, now.Add(4*time.Minute))
			if err != nil || !created || next.ID == first.ID {
				t.Fatalf("fire after resolve: %+v %v %v", next, created, err)
			}
			other := a
			other.Stream, other.Team = "billing", "team-b"
			if _, _, err := s.Fire(ctx, other, now.Add(5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				f    Filter
				want int
			}{
				{"all", Filter{}, 3},
				{"team-a", Filter{Teams: []string{"team-a"}}, 2},
				{"no teams", Filter{Teams: []string{}}, 0},
				{"resolved", Filter{State: apiv1.AlertResolved}, 1},
				{"stream", Filter{Stream: "billing"}, 1},
			} {
				got, err := s.List(ctx, c.f, "", 10)
				if err != nil || len(got) != c.want {
					t.Errorf("%s: %d alerts (%v), want %d", c.name, len(got), err, c.want)
				}
			}
			page, _ := s.List(ctx, Filter{}, "", 2)
			rest, _ := s.List(ctx, Filter{}, page[1].ID, 2)
			if len(page) != 2 || len(rest) != 1 || rest[0].ID != first.ID {
				t.Errorf("pages: %d then %d, want newest first ending with %s", len(page), len(rest), first.ID)
			}
			if _, err := s.Get(ctx, "al-missing"); !errors.Is(err, database.ErrNotFound) {
				t.Errorf("get missing: %v", err)
			}
		})
	}
}

func TestSeriesRoundTrip(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for dialect, s := range stores(t) {
		t.Run(dialect, func(t *testing.T) {
			in := []Series{{Stream: "s", Signal: "active_series", State: []byte{0, 1, 2, 255}, Recent: []float64{1, 2.5}, Points: 7, UpdatedAt: at}}
			if err := s.SaveSeries(ctx, in); err != nil {
				t.Fatal(err)
			}
			in[0].Points, in[0].Recent = 8, nil
			if err := s.SaveSeries(ctx, in); err != nil {
				t.Fatal(err)
			}
			out, err := s.LoadSeries(ctx)
			if err != nil || len(out) != 1 {
				t.Fatalf("load: %+v %v", out, err)
			}
			if o := out[0]; o.Points != 8 || string(o.State) != string(in[0].State) || len(o.Recent) != 0 || !o.UpdatedAt.Equal(at) {
				t.Errorf("loaded %+v", o)
			}
		})
	}
}
