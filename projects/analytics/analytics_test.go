package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
	)
}

type harness struct {
	bus *messaging.Bus
	svc *server.Service
	url string
	reg *telemetry.Metrics
}

func start(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := messaging.Connect(ctx, messaging.Settings{DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "a.db"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := config.DefaultServer()
	cfg.Analytics.OTLPHTTPAddr = testutil.FreeAddr(t)
	cfg.Analytics.OTLPGRPCAddr = testutil.FreeAddr(t)
	cfg.Auth.IngestOpen = true
	m := telemetry.NewMetrics()
	svc, err := analytics.New(service.Settings{Config: &cfg, Logger: logger, Bus: bus, Store: db, Metrics: m, Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	s := svc.(*server.Service)
	return &harness{bus: bus, svc: s, url: "http://" + s.HTTPAddr(), reg: m}
}

func (h *harness) send(t *testing.T, stream string, bodies [][]byte) {
	t.Helper()
	for _, b := range bodies {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/metrics", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if stream != "" {
			req.Header.Set(apiv1.HeaderStream, stream)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("ingest: %s", resp.Status)
		}
	}
}

func rest(t *testing.T, bus *messaging.Bus, subject string, p apiv1.Principal, params map[string]string, query url.Values, out any) error {
	t.Helper()
	return bus.Request(context.Background(), subject, apiv1.Request{Method: "GET", Params: params, Query: query, Principal: p}, out)
}

var (
	alice = apiv1.Principal{Subject: "alice", Kind: "user", Role: "viewer", Teams: []string{"default"}}
	bob   = apiv1.Principal{Subject: "bob", Kind: "user", Role: "viewer", Teams: []string{"team-b"}}
)

func TestServiceEndToEnd(t *testing.T) {
	h := start(t)
	h.send(t, "exp1--baseline", otlptest.ProcessFleet(0, 100, 1000))
	h.send(t, "exp1--candidate", otlptest.ProcessFleet(0, 50, 1000))

	// NATS endpoint for services.
	var rep apiv1.CardinalityReport
	if err := h.bus.Request(context.Background(), apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: "exp1--baseline"}, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ActiveSeries != 1000 || !rep.Exact || len(rep.Metrics) != 7 {
		t.Fatalf("cardinality: %d series, %d metrics", rep.ActiveSeries, len(rep.Metrics))
	}
	// The REST route answers the same, for a caller in the owning team only.
	var viaREST apiv1.CardinalityReport
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamCardinality"), alice, map[string]string{"stream": "exp1--baseline"}, nil, &viaREST); err != nil {
		t.Fatal(err)
	}
	if viaREST.ActiveSeries != rep.ActiveSeries || len(viaREST.Metrics) != len(rep.Metrics) {
		t.Errorf("REST and NATS answers differ")
	}
	err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamCardinality"), bob, map[string]string{"stream": "exp1--baseline"}, nil, &viaREST)
	if p := problem.From(err); p == nil || p.Status != 404 {
		t.Errorf("other team: %v", err)
	}
	var list apiv1.List[apiv1.StreamSummary]
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "listStreams"), alice, nil, url.Values{"limit": {"1"}}, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.NextCursor == nil || list.Items[0].Stream != "exp1--baseline" {
		t.Errorf("streams page 1: %+v", list)
	}
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "listStreams"), bob, nil, nil, &list); err != nil || len(list.Items) != 0 {
		t.Errorf("bob sees %+v (%v)", list.Items, err)
	}

	// Estimate.
	var est apiv1.EstimateReply
	if err := h.bus.Request(context.Background(), apiv1.SubjectAnalyticsEstimate, apiv1.EstimateRequest{
		Stream: "exp1--baseline", DropLabels: []string{"process.pid", "process.command_line"}}, &est); err != nil {
		t.Fatal(err)
	}
	if est.SeriesBefore != 1000 || est.SeriesAfter != 80 {
		t.Errorf("estimate: %+v", est)
	}

	// Cost: dp/s is unknown right after start, so per-datapoint models say so.
	var cr apiv1.CostReport
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getCost"), alice, nil, url.Values{"stream": {"exp1--baseline"}}, &cr); err != nil {
		t.Fatal(err)
	}
	for _, m := range cr.Models {
		switch m.Model {
		case "datadog":
			if m.MonthlyCost == nil || *m.MonthlyCost != 1000.0/100*5 {
				t.Errorf("datadog: %v", m.MonthlyCost)
			}
		case "gcp-managed-prometheus":
			if m.MonthlyCost != nil || m.MonthlyCostUnknownReason == "" {
				t.Errorf("dp-priced model should be unknown: %+v", m)
			}
		}
	}
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getCost"), alice, nil, url.Values{"stream": {"exp1--baseline"}, "model": {"nope"}}, &cr); problem.From(err).Status != 400 {
		t.Errorf("unknown model: %v", err)
	}

	// Compare.
	var cmp apiv1.CompareReport
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "compareStreams"), alice, nil, url.Values{
		"baseline": {"exp1--baseline"}, "candidate": {"exp1--candidate"},
		"critical":  {`process.executable.name=~"nginx"`},
		"aggregate": {`sum({"process.memory.usage"}) by ("host.name")`},
	}, &cmp); err != nil {
		t.Fatal(err)
	}
	if cmp.SeriesReduction == nil || *cmp.SeriesReduction != 0.5 || cmp.CriticalRetention == nil || *cmp.CriticalRetention != 7.0/13 {
		t.Errorf("compare: %+v", cmp)
	}
	if cmp.DPReduction != nil || cmp.DPReductionUnknownReason == "" {
		t.Errorf("dp reduction before an interval: %v", cmp.DPReduction)
	}

	// A rollup is stored, published and readable.
	sub, err := h.bus.Conn.SubscribeSync(messaging.EventSubject(messaging.KindRollup, "exp1--baseline"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	rolled := h.svc.RollupNow(context.Background())
	if len(rolled) != 2 {
		t.Fatalf("rollups: %d", len(rolled))
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ev messaging.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil || ev.Type != "rollup" || !strings.Contains(string(ev.Data), `"active_series":1000`) {
		t.Errorf("event: %s %v", msg.Data, err)
	}
	var rl apiv1.List[apiv1.Rollup]
	q := url.Values{"from": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "to": {time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}}
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamRollups"), alice, map[string]string{"stream": "exp1--baseline"}, q, &rl); err != nil {
		t.Fatal(err)
	}
	if len(rl.Items) != 1 || rl.Items[0].Datapoints != 1000 || rl.Items[0].ActiveSeries != 1000 {
		t.Errorf("rollups: %+v", rl.Items)
	}
	q.Set("step", "0s")
	if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "getStreamRollups"), alice, map[string]string{"stream": "exp1--baseline"}, q, &rl); problem.From(err).Status != 400 {
		t.Errorf("bad step: %v", err)
	}

	// Self-metrics.
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`phoenix_analytics_datapoints_received_total{protocol="otlp"} 1500`, "phoenix_analytics_streams 2", "phoenix_analytics_series_tracked 1500", "phoenix_analytics_heap_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestCompareAggregatesPerWindow goes through the REST subject: the first
// comparison watches the aggregate (answered on the latest values, so
// labelled), each rollup tick records a window, and later comparisons
// answer per window, within from/to.
func TestCompareAggregatesPerWindow(t *testing.T) {
	h := start(t)
	agg := `sum({"process.memory.usage"}) by ("host.name")`
	q := url.Values{"baseline": {"exp2--baseline"}, "candidate": {"exp2--candidate"}, "aggregate": {agg}}
	compare := func(q url.Values) apiv1.AggregateResult {
		t.Helper()
		var rep apiv1.CompareReport
		if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "compareStreams"), alice, nil, q, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Aggregates) != 1 {
			t.Fatalf("aggregates: %+v", rep.Aggregates)
		}
		return rep.Aggregates[0]
	}
	// Memory usage = pid: processes 0..99 on host-0, the candidate 0..49.
	h.send(t, "exp2--baseline", otlptest.ProcessFleet(0, 100, 1000))
	h.send(t, "exp2--candidate", otlptest.ProcessFleet(0, 50, 1000))
	missing := 1 - 1225.0/4950
	if a := compare(q); a.Basis != apiv1.BasisLatest || a.BasisReason == "" || len(a.Windows) != 0 ||
		a.MaxRelError == nil || math.Abs(*a.MaxRelError-missing) > 1e-9 {
		t.Fatalf("first comparison: %+v", a)
	}
	h.svc.RollupNow(context.Background())
	// The candidate gets the other half: equal from the next window on.
	h.send(t, "exp2--candidate", otlptest.ProcessFleet(50, 50, 1000))
	h.svc.RollupNow(context.Background())

	a := compare(q)
	if a.Basis != apiv1.BasisWindows || len(a.Windows) != 2 || a.Groups != 1 {
		t.Fatalf("per window: %+v", a)
	}
	w0, w1 := a.Windows[0], a.Windows[1]
	if math.Abs(w0.MaxRelError-missing) > 1e-9 || w1.MaxRelError != 0 || !w0.End.Equal(w1.Start) ||
		math.Abs(*a.MaxRelError-missing) > 1e-9 || math.Abs(*a.MeanRelError-missing/2) > 1e-9 {
		t.Errorf("windows: %+v, max %v mean %v", a.Windows, *a.MaxRelError, *a.MeanRelError)
	}
	q.Set("from", w1.End.Format(time.RFC3339Nano))
	if a := compare(q); a.Basis != apiv1.BasisWindows || len(a.Windows) != 1 || *a.MaxRelError != 0 {
		t.Errorf("from the second window: %+v", a)
	}
	// After the last window's end, before now: the latest values, labelled.
	q.Set("from", w1.End.Add(time.Nanosecond).Format(time.RFC3339Nano))
	if a := compare(q); a.Basis != apiv1.BasisLatest || len(a.Windows) != 0 || *a.MaxRelError != 0 {
		t.Errorf("no window in range: %+v", a)
	}
}

// TestCompareAggregatesOnlyTheirMetrics checks that a comparison with
// aggregates only (which snapshots just the aggregates' metrics) answers as
// one that also has a critical matcher (a full snapshot): a group the
// candidate lost counts as a relative error of 1, not as unknown, and a
// stream without data is unknown.
func TestCompareAggregatesOnlyTheirMetrics(t *testing.T) {
	h := start(t)
	agg := `sum({"process.memory.usage"}) by ("host.name")`
	h.send(t, "exp3--baseline", otlptest.ProcessFleet(0, 100, 1000))    // host-0
	h.send(t, "exp3--candidate", otlptest.ProcessFleet(100, 100, 1000)) // host-1 only
	// A candidate that dropped the aggregated metric altogether.
	h.send(t, "exp3--dropped", [][]byte{otlptest.Marshal(otlptest.Request(
		otlptest.RM(otlptest.ProcessResource("host-0", "nginx", 1), otlptest.Gauge("process.threads", 4, nil))))})
	tests := []struct {
		name, candidate string
		wantErr         *float64
	}{
		{"candidate lost the group", "exp3--candidate", ptr(1.0)},
		{"candidate dropped the metric", "exp3--dropped", ptr(1.0)},
		{"candidate without data", "exp3--nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []apiv1.AggregateResult
			for _, critical := range [][]string{nil, {`{"host.name"="host-0"}`}} {
				q := url.Values{"baseline": {"exp3--baseline"}, "candidate": {tt.candidate}, "aggregate": {agg}, "critical": critical}
				var rep apiv1.CompareReport
				if err := rest(t, h.bus, apiv1.Subject(config.ServiceAnalytics, "compareStreams"), alice, nil, q, &rep); err != nil {
					t.Fatal(err)
				}
				if len(rep.Aggregates) != 1 {
					t.Fatalf("aggregates: %+v", rep.Aggregates)
				}
				a := rep.Aggregates[0]
				switch {
				case tt.wantErr == nil && (a.MaxRelError != nil || a.UnknownReason == ""):
					t.Errorf("critical %v: %+v, want unknown with a reason", critical, a)
				case tt.wantErr != nil && (a.MaxRelError == nil || *a.MaxRelError != *tt.wantErr):
					t.Errorf("critical %v: %+v, want max error %v", critical, a, *tt.wantErr)
				}
				got = append(got, a)
			}
			if got[0].UnknownReason != got[1].UnknownReason || got[0].Groups != got[1].Groups {
				t.Errorf("aggregates only %+v, with a critical matcher %+v", got[0], got[1])
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
