package manager

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// startIngest runs an OTLP/HTTP endpoint that refuses every request with
// 401, as Phoenix's ingest does without credentials (a project may not
// import another, so the real analytics service is not started here; the
// e2e suite runs the two together).
func startIngest(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("WWW-Authenticate", `Bearer realm="phoenix-ingest"`)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"title":"Unauthorized","status":401,"detail":"missing bearer token"}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRunAgainstIngestAnswering401 (issue 14): a server-run simulation
// whose every datapoint the ingest refuses with 401 ends failed, its error
// naming the 401 and the count; it used to end "completed", error null,
// because three failed requests are fewer than ErrTargetFailing needs.
func TestRunAgainstIngestAnswering401(t *testing.T) {
	url := startIngest(t)
	target, err := loadgen.ParseTarget(url, "")
	if err != nil {
		t.Fatal(err)
	}
	m := New(Settings{Allowed: []string{target.Key()}, MaxConcurrent: 1, MaxDuration: time.Hour, MaxProcesses: 10000,
		Logger: slog.New(slog.DiscardHandler), MinInterval: 100 * time.Millisecond})
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	p := apiv1.Principal{Subject: "alice", Kind: "user", Role: "operator", Teams: []string{"team-a"}}
	info, err := m.Start(p, loadgen.StartRequest{Profile: loadgen.ProfileRealistic, Hosts: 1, Target: url,
		Duration: "1500ms", Interval: "500ms"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		info, err = m.Get(p, info.ID)
		return err == nil && info.State != loadgen.StateRunning
	}, "simulation still running")
	if info.State != loadgen.StateFailed {
		t.Errorf("state %q, want failed", info.State)
	}
	if info.Stats.DatapointsSent != 0 || info.Stats.DatapointsFailed == 0 || info.Stats.RequestsFailed >= loadgen.DefaultMaxConsecFail {
		t.Fatalf("stats %+v: want a few requests, all refused", info.Stats)
	}
	count := strings.Contains(info.Error, " of ") && strings.Contains(info.Error, "datapoints failed")
	if !strings.Contains(info.Error, "401") || !count {
		t.Errorf("error %q: want the 401 and the count", info.Error)
	}
}
