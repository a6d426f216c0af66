package anomalydetector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
	)
}

var (
	teamA = apiv1.Principal{Subject: "alice", Kind: "user", Role: "operator", Teams: []string{"team-a"}}
	teamB = apiv1.Principal{Subject: "bruno", Kind: "user", Role: "operator", Teams: []string{"team-b"}}
	admin = apiv1.Principal{Subject: "root", Kind: "user", Role: "admin"}
)

func TestOperationsMatchSpec(t *testing.T) {
	if err := apiv1.CheckServed(api.OpenAPI, config.ServiceAnomalyDetector, (&Service{}).Operations().IDs()); err != nil {
		t.Fatal(err)
	}
}

// env is the detector on an in-process NATS with JetStream and a real
// SQLite database, with an analytics-like responder on the cardinality
// subject answering whatever breakdown the test sets.
type env struct {
	t   *testing.T
	bus *messaging.Bus
	db  *database.Store
	cfg config.Server
	svc *Service

	mu      sync.Mutex
	reports map[string]apiv1.CardinalityReport
	at      time.Time // the rollup clock
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	bus, err := messaging.Connect(ctx, messaging.Settings{DataDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	db, err := database.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx, config.ServiceAnomalyDetector, migrations); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, bus: bus, db: db, cfg: config.DefaultServer(), reports: map[string]apiv1.CardinalityReport{},
		at: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	e.cfg.DataDir = dir // channel secrets key file (secret.key) lives here
	c := ConfigFrom(&e.cfg)
	c.CheckpointInterval = time.Hour // tests checkpoint on shutdown
	if mod != nil {
		mod(c)
	}
	sub, err := bus.Conn.Subscribe(apiv1.SubjectAnalyticsCardinality, func(m *nats.Msg) {
		var req apiv1.CardinalityRequest
		_ = json.Unmarshal(m.Data, &req)
		e.mu.Lock()
		rep, ok := e.reports[req.Stream]
		rep.Time = e.at // analytics answers live figures
		e.mu.Unlock()
		if !ok {
			rep = apiv1.CardinalityReport{Stream: req.Stream, Team: "team-a", Time: rep.Time}
		}
		b, _ := json.Marshal(rep)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	e.start()
	return e
}

// start (re)starts the service on the env's bus and database.
func (e *env) start() {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := newService(service.Settings{Config: &e.cfg, Logger: logger, Bus: e.bus, Store: e.db, Metrics: telemetry.NewMetrics()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.t.Cleanup(func() { e.stop() })
}

func (e *env) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.svc.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
}

// breakdown sets what the analytics responder answers for stream.
func (e *env) breakdown(rep apiv1.CardinalityReport) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reports[rep.Stream] = rep
}

// rollup publishes one minute's rollup of stream with active series and
// proportional volume, as analytics does.
func (e *env) rollup(stream string, active int64) {
	e.t.Helper()
	e.mu.Lock()
	start := e.at
	e.at = e.at.Add(time.Minute)
	e.mu.Unlock()
	r := apiv1.Rollup{Stream: stream, Start: start, End: start.Add(time.Minute), ActiveSeries: active, Exact: true,
		Datapoints: active * 6, Bytes: active * 6 * 40, NewSeries: active / 100}
	if err := e.bus.PublishEvent(context.Background(), messaging.KindRollup, stream, "rollup", r); err != nil {
		e.t.Fatal(err)
	}
}

// feed publishes rollups and waits until the detector has handled them.
func (e *env) feed(stream string, values ...int64) {
	e.t.Helper()
	want := e.svc.handled.Load() + int64(len(values))
	for _, v := range values {
		e.rollup(stream, v)
	}
	testutil.Eventually(e.t, 20*time.Second, func() bool { return e.svc.handled.Load() >= want },
		"detector handled %d rollups, want %d", e.svc.handled.Load(), want)
}

// call sends a gateway-style request over NATS.
func (e *env) call(op string, p apiv1.Principal, params map[string]string, query url.Values, out any) error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, raw, err := e.bus.RequestRaw(ctx, apiv1.Subject(config.ServiceAnomalyDetector, op), apiv1.Request{Principal: p, Params: params, Query: query})
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("decode %s: %v: %s", op, err, raw)
		}
	}
	return nil
}

func (e *env) alerts(p apiv1.Principal, query url.Values) []apiv1.Alert {
	e.t.Helper()
	var l apiv1.List[apiv1.Alert]
	if err := e.call("listAlerts", p, nil, query, &l); err != nil {
		e.t.Fatalf("list alerts: %v", err)
	}
	return l.Items
}

func statusOf(err error) int {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Status
	}
	return 0
}

func steady(n int, level float64, seed int) []int64 {
	out := make([]int64, n)
	for i := range out {
		// deterministic jitter of about ±0.3 %
		out[i] = int64(level * (1 + 0.003*math.Sin(float64(i*7+seed))))
	}
	return out
}

// TestQuietSeriesRaiseNothing: steady and seasonal streams, long enough for
// the detectors to warm up and learn the season, raise no alert.
func TestQuietSeriesRaiseNothing(t *testing.T) {
	e := newEnv(t, nil)
	seasonal := make([]int64, 400)
	for i := range seasonal {
		// a daily-like cycle of 60 rollups, ±30 %
		seasonal[i] = int64(20_000 * (1 + 0.3*math.Sin(2*math.Pi*float64(i)/60)))
	}
	cases := map[string][]int64{
		"steady":   steady(400, 5_000, 1),
		"seasonal": seasonal,
	}
	// Team rules that must stay quiet too: a detector-score rule at the
	// ensemble's default threshold and a churn budget above the seasonal
	// peak's new series (26,000/100 = 260 per minute).
	for _, in := range []apiv1.AlertRuleInput{
		{Name: "detector", Kind: apiv1.RuleDetectorSeverity, Signal: SignalActiveSeries, Threshold: 0.5},
		{Name: "churn", Kind: apiv1.RuleChurn, Threshold: 300},
	} {
		if st := e.do("createAlertRule", teamA, nil, in, nil); st != 201 {
			t.Fatalf("rule %s: %d", in.Name, st)
		}
	}
	for stream, values := range cases {
		e.breakdown(apiv1.CardinalityReport{Stream: stream, Team: "team-a", ActiveSeries: values[0]})
		e.feed(stream, values...)
	}
	if got := e.alerts(admin, nil); len(got) != 0 {
		t.Fatalf("quiet series raised %d alerts, first: %+v", len(got), got[0])
	}
}

func httpBreakdown(active, requestIDs int64) apiv1.CardinalityReport {
	m := apiv1.MetricCardinality{Name: "http.server.duration", Type: "histogram", Series: active - 200, Labels: []apiv1.LabelCardinality{
		{Name: "http.route", Scope: apiv1.ScopeDatapoint, DistinctValues: 40},
		{Name: "http.status_code", Scope: apiv1.ScopeDatapoint, DistinctValues: 5},
	}}
	if requestIDs > 0 {
		m.Labels = append(m.Labels, apiv1.LabelCardinality{Name: "request_id", Scope: apiv1.ScopeDatapoint, DistinctValues: requestIDs})
	}
	return apiv1.CardinalityReport{Stream: "checkout", Team: "team-a", ActiveSeries: active, Exact: true, Metrics: []apiv1.MetricCardinality{
		m,
		{Name: "process.cpu.time", Type: "sum", Series: 200, Labels: []apiv1.LabelCardinality{{Name: "host.name", Scope: apiv1.ScopeResource, DistinctValues: 20}}},
	}}
}

// TestExplosionLifecycle: a stream whose active series jump fires one
// alert naming the metric and the label; acknowledge, auto-resolve and a
// manual resolve work through the API; other teams see nothing.
func TestExplosionLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	e.breakdown(httpBreakdown(2_000, 0))
	e.feed("checkout", steady(30, 2_000, 2)...)
	if n := len(e.alerts(admin, nil)); n != 0 {
		t.Fatalf("%d alerts before the explosion", n)
	}

	// request_id arrives: +12,400 series in one window, two windows long.
	e.breakdown(httpBreakdown(14_400, 12_400))
	e.feed("checkout", 14_400, 14_500)
	got := e.alerts(teamA, url.Values{"stream": {"checkout"}})
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1 (deduplicated): %+v", len(got), got)
	}
	a := got[0]
	if a.Rule != apiv1.RuleExplosion || a.State != apiv1.AlertFiring || a.Metric != "http.server.duration" || a.Label != "request_id" || a.Team != "team-a" {
		t.Fatalf("alert %+v", a)
	}
	for _, want := range []string{"label request_id on http.server.duration: +12,400 values", " values in ", "100% of new series", "-> 14,500"} {
		if !strings.Contains(a.Summary, want) {
			t.Errorf("summary %q lacks %q", a.Summary, want)
		}
	}
	if a.Attribution == nil || !a.Attribution.Baseline || a.Attribution.NewValues != 12_400 {
		t.Errorf("attribution %+v", a.Attribution)
	}

	// Other teams: not listed, 404 on get and act.
	if n := len(e.alerts(teamB, nil)); n != 0 {
		t.Errorf("team-b lists %d alerts", n)
	}
	for _, op := range []string{"getAlert", "acknowledgeAlert", "resolveAlert"} {
		if err := e.call(op, teamB, map[string]string{"id": a.ID}, nil, nil); statusOf(err) != 404 {
			t.Errorf("%s by another team: %v, want 404", op, err)
		}
	}
	if err := e.call("listAlerts", teamA, nil, url.Values{"state": {"open"}}, nil); statusOf(err) != 400 {
		t.Errorf("state=open: %v, want 400", err)
	}

	var acked apiv1.Alert
	if err := e.call("acknowledgeAlert", teamA, map[string]string{"id": a.ID}, nil, &acked); err != nil {
		t.Fatal(err)
	}
	if acked.State != apiv1.AlertAcknowledged || acked.AcknowledgedBy != "alice" || acked.AcknowledgedAt == nil {
		t.Fatalf("acknowledged: %+v", acked)
	}
	if n := len(e.alerts(teamA, url.Values{"state": {"acknowledged"}})); n != 1 {
		t.Errorf("state=acknowledged lists %d", n)
	}

	// The label goes away: after resolve_windows clear rollups the alert
	// resolves itself.
	e.breakdown(httpBreakdown(2_000, 0))
	e.feed("checkout", 2_000, 2_000)
	var still apiv1.Alert
	if err := e.call("getAlert", teamA, map[string]string{"id": a.ID}, nil, &still); err != nil || still.State != apiv1.AlertAcknowledged {
		t.Fatalf("after 2 clear rollups: %+v %v, want still acknowledged", still, err)
	}
	e.feed("checkout", 2_000)
	var done apiv1.Alert
	if err := e.call("getAlert", admin, map[string]string{"id": a.ID}, nil, &done); err != nil {
		t.Fatal(err)
	}
	if done.State != apiv1.AlertResolved || done.ResolvedBy != ResolvedByAuto || done.ResolvedAt == nil {
		t.Fatalf("after 3 clear rollups: %+v", done)
	}
	if err := e.call("acknowledgeAlert", teamA, map[string]string{"id": a.ID}, nil, nil); statusOf(err) != 409 {
		t.Errorf("acknowledge a resolved alert: %v, want 409", err)
	}

	// A new explosion is a new alert; an operator resolves it.
	e.feed("checkout", steady(5, 2_000, 3)...)
	e.breakdown(httpBreakdown(9_000, 7_000))
	e.feed("checkout", 9_000)
	firing := e.alerts(teamA, url.Values{"state": {"firing"}})
	if len(firing) != 1 || firing[0].ID == a.ID || firing[0].Label != "request_id" {
		t.Fatalf("second explosion: %+v", firing)
	}
	var resolved apiv1.Alert
	if err := e.call("resolveAlert", teamA, map[string]string{"id": firing[0].ID}, nil, &resolved); err != nil {
		t.Fatal(err)
	}
	if resolved.State != apiv1.AlertResolved || resolved.ResolvedBy != "alice" {
		t.Fatalf("resolved: %+v", resolved)
	}
	// Pagination: two alerts, one per page, newest first.
	var page apiv1.List[apiv1.Alert]
	if err := e.call("listAlerts", teamA, nil, url.Values{"limit": {"1"}}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != firing[0].ID || page.NextCursor == nil {
		t.Fatalf("page 1: %+v", page)
	}
	if err := e.call("listAlerts", teamA, nil, url.Values{"limit": {"1"}, "cursor": {*page.NextCursor}}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != a.ID {
		t.Fatalf("page 2: %+v", page)
	}
}

// TestAlertEvents: firing, acknowledging and resolving publish
// phoenix.events.alert.<id> with the alert and its team.
func TestAlertEvents(t *testing.T) {
	e := newEnv(t, nil)
	events := make(chan messaging.Event, 10)
	sub, err := e.bus.Conn.Subscribe(messaging.EventSubject(messaging.KindAlert, "*"), func(m *nats.Msg) {
		var ev messaging.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			events <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	e.breakdown(httpBreakdown(2_000, 0))
	e.feed("checkout", steady(10, 2_000, 4)...)
	e.breakdown(httpBreakdown(14_400, 12_400))
	e.feed("checkout", 14_400)
	id := e.alerts(teamA, nil)[0].ID
	if err := e.call("acknowledgeAlert", teamA, map[string]string{"id": id}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.call("resolveAlert", teamA, map[string]string{"id": id}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{EventFired, EventAcknowledged, EventResolved} {
		select {
		case ev := <-events:
			var a apiv1.Alert
			if err := json.Unmarshal(ev.Data, &a); err != nil {
				t.Fatal(err)
			}
			if ev.Kind != messaging.KindAlert || ev.Type != want || ev.ID != id || a.Team != "team-a" {
				t.Fatalf("event %s/%s/%s team %q, want %s", ev.Kind, ev.Type, ev.ID, a.Team, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
}

// TestRestartResumes: detector state and the consumer's position survive a
// restart: rollups published while the detector is down are seen after it.
func TestRestartResumes(t *testing.T) {
	e := newEnv(t, nil)
	e.feed("checkout", steady(50, 2_000, 5)...)
	e.stop()
	for _, v := range steady(5, 2_000, 6) {
		e.rollup("checkout", v)
	}
	e.start()
	testutil.Eventually(t, 20*time.Second, func() bool { return e.svc.handled.Load() == 5 },
		"after restart: %d rollups handled, want the 5 published while down", e.svc.handled.Load())
	for _, sig := range AllSignals {
		if p := e.svc.Points("checkout", sig); p != 55 {
			t.Errorf("%s: %d points, want 55", sig, p)
		}
	}
	// The explosion rule's lookback is restored too: one jump fires.
	e.breakdown(httpBreakdown(14_400, 12_400))
	e.feed("checkout", 14_400)
	if got := e.alerts(admin, nil); len(got) != 1 || got[0].Label != "request_id" {
		t.Fatalf("after restart: %+v", got)
	}
}

// TestMaxSeriesRefusesStreams: a stream beyond max_series is not watched,
// and counted.
func TestMaxSeriesRefusesStreams(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSeries = len(AllSignals) })
	e.feed("first", 100, 100)
	e.rollup("second", 100)
	e.rollup("second", 100)
	testutil.Eventually(t, 10*time.Second, func() bool { return e.svc.det.Stats().Refused == 2 }, "refused %d, want 2", e.svc.det.Stats().Refused)
	if st := e.svc.det.Stats(); st.Streams != 1 || st.Series != len(AllSignals) {
		t.Fatalf("stats %+v", st)
	}
}
