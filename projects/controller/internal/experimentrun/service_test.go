package experimentrun

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// The service runs the real runner in the background: an experiment whose
// selector matches no agent ends inconclusive without any other service
// answering, and Stop ends the runner (twice is fine; TestMain checks that
// nothing leaks).
func TestServiceRunsAndStops(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	repo := newRepoOn(t, db)
	bus := connect(t)
	svc, err := Start(ctx, Deps{DB: db, Repo: repo, Pusher: &recordingPusher{}, Bus: bus}, Options{Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stored := strings.Replace(topkSpec, "{template: baseline}", "{pipeline: prod-hosts}", 1)
	if _, err := experiment.Parse([]byte(stored)); err != nil {
		t.Fatalf("the spec itself is valid: %v", err) // refused by the service, not the parser
	}
	for _, bad := range []string{"kind: Experiment\n", stored} {
		if _, err := svc.Create(ctx, "web", "alice", []byte(bad), true); err == nil {
			t.Fatalf("stored an experiment it cannot run:\n%s", bad)
		}
	}
	rec, err := svc.Create(ctx, "web", "alice", []byte(topkSpec), true)
	if err != nil {
		t.Fatal(err)
	}
	var got *experiment.Record
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err = svc.Get(ctx, rec.ID)
		un, uerr := svc.Store().Unpublished(ctx, 10)
		return err == nil && got.State == experiment.Inconclusive && uerr == nil && len(un) == 0
	}, "experiment never reached inconclusive with every transition published")
	if r := strings.Join(got.Results.Reasons, "; "); !strings.Contains(r, "selector matched none") {
		t.Fatalf("reasons %q should say no agent matched", r)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := svc.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(stopCtx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	ts, err := svc.Transitions(ctx, rec.ID, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, tr := range ts {
		path = append(path, string(tr.To))
	}
	if p := strings.Join(path, ">"); p != "draft>pending>deploying>warming>running>analyzing>inconclusive" {
		t.Fatalf("path %s", p)
	}
}
