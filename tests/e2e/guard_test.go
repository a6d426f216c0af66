package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	anomalydetector "github.com/phoenix-platform/phoenix/projects/anomaly-detector"
	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
	platformapi "github.com/phoenix-platform/phoenix/projects/platform-api"
)

func strKV(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// httpRequests is one OTLP export of http.server.request_count: 20 routes x
// 10 status codes, plus, when requestIDs > 0, that many datapoints each
// carrying a request_id never seen before (the label someone just shipped).
func httpRequests(now time.Time, requestIDs, firstID int) *colmetricspb.ExportMetricsServiceRequest {
	ts := uint64(now.UnixNano())
	var dps []*metricspb.NumberDataPoint
	point := func(attrs ...*commonpb.KeyValue) {
		dps = append(dps, &metricspb.NumberDataPoint{Attributes: attrs, TimeUnixNano: ts, StartTimeUnixNano: ts - uint64(time.Minute),
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: 1}})
	}
	for r := range 20 {
		for s := range 10 {
			point(strKV("http.route", fmt.Sprintf("/api/r%d", r)), strKV("http.status_code", fmt.Sprintf("%d", 200+s)))
		}
	}
	for i := range requestIDs {
		point(strKV("http.route", "/api/r0"), strKV("http.status_code", "200"), strKV("request_id", fmt.Sprintf("req-%08d", firstID+i)))
	}
	return &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{strKV("service.name", "checkout")}},
		ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: []*metricspb.Metric{{
			Name: "http.server.request_count",
			Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{IsMonotonic: true,
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, DataPoints: dps}},
		}}}},
	}}}
}

// TestGuardNamesTheExplodingLabel runs the real analytics service and the
// anomaly detector: steady OTLP traffic raises nothing; then every datapoint
// carries a new request_id, and within two rollup windows one alert names
// the metric and the label, with numbers.
func TestGuardNamesTheExplodingLabel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 30 s of real time")
	}
	const password = "guard-e2e-password-1"
	t.Setenv("PHOENIX_BOOTSTRAP_ADMIN_PASSWORD", password)
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceAnomalyDetector, config.ServicePlatformAPI)
	cfg.Auth.IngestOpen = true
	// Above analytics' 2 s breakdown cache, so each rollup's breakdown is
	// fresh (production rollups are 10 s apart).
	analytics.ConfigFrom(cfg).RollupInterval = 3 * time.Second
	guard := anomalydetector.ConfigFrom(cfg)
	guard.BreakdownEvery = 2
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.Start(context.Background(), cfg, logger, []service.Registration{
		analytics.Registration(), anomalydetector.Registration(), platformapi.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	bus := a.Settings.Bus

	target, err := loadgen.ParseTarget("http://"+cfg.Analytics.OTLPHTTPAddr, "")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := loadgen.NewExporter(target, loadgen.ExporterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	send := func(requestIDs, firstID int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if rejected, err := exp.Export(ctx, httpRequests(time.Now(), requestIDs, firstID)); err != nil || rejected != 0 {
			t.Fatalf("export: %d rejected, %v", rejected, err)
		}
	}
	alerts := func() []apiv1.Alert {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, raw, err := bus.RequestRaw(ctx, apiv1.Subject(config.ServiceAnomalyDetector, "listAlerts"),
			apiv1.Request{Principal: admin, Query: url.Values{"stream": {apiv1.DefaultStream}}})
		if err != nil {
			t.Fatalf("list alerts: %v", err)
		}
		var l apiv1.List[apiv1.Alert]
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	points := func() int64 {
		return a.Service(config.ServiceAnomalyDetector).(*anomalydetector.Service).Points(apiv1.DefaultStream, "active_series")
	}

	// A signed webhook channel of the stream's team, created from the CLI
	// by the admin (allow_private: the receiver is on loopback).
	base := "http://" + cfg.API.Addr
	t.Setenv("PHOENIX_TOKEN", loginToken(t, base, password))
	hook := newSignedReceiver(t, "guard-hook-secret")
	t.Setenv("GUARD_HOOK_SECRET", "guard-hook-secret")
	var ch apiv1.Channel
	if err := json.Unmarshal(runPhoenix(t, "channel", "create", "guard-hook", "--type", "webhook", "--url", hook.srv.URL,
		"--secret-env", "GUARD_HOOK_SECRET", "--allow-private", "--team", apiv1.DefaultTeam, "--api-url", base, "-o", "json"), &ch); err != nil || !ch.HasSecret {
		t.Fatalf("channel create: %v %+v", err, ch)
	}

	// Steady: 200 series for at least five rollups.
	for points() < 5 {
		send(0, 0)
		time.Sleep(250 * time.Millisecond)
	}
	if got := alerts(); len(got) != 0 {
		t.Fatalf("steady traffic raised %+v", got)
	}

	// The explosion: 1,000 new request_id values a second.
	before := points()
	next := 0
	var fired []apiv1.Alert
	for deadline := time.Now().Add(30 * time.Second); len(fired) == 0; fired = alerts() {
		if time.Now().After(deadline) {
			t.Fatalf("no alert within 30 s of the explosion (%d rollups)", points()-before)
		}
		send(500, next)
		next += 500
		time.Sleep(500 * time.Millisecond)
	}
	windows := points() - before
	a0 := fired[0]
	t.Logf("alert after %d rollups: %s", windows, a0.Summary)
	if windows > 3 {
		t.Errorf("alert after %d rollup windows, want at most 2 (+1 in flight)", windows)
	}
	if len(fired) != 1 || a0.Rule != "explosion" || a0.Metric != "http.server.request_count" || a0.Label != "request_id" {
		t.Fatalf("alerts %+v", fired)
	}
	if a0.Attribution == nil || a0.Attribution.NewValues < 1000 || a0.Attribution.ShareOfNew < 0.9 {
		t.Errorf("attribution %+v", a0.Attribution)
	}

	// The receiver got the signed fired event naming the metric and label.
	waitEvents := func(n int) []apiv1.Notification {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, bad := hook.events()
			if bad > 0 {
				t.Fatalf("%d posts with a bad signature or body", bad)
			}
			if len(got) >= n {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("webhook got %d events, want %d", len(got), n)
			}
			time.Sleep(100 * time.Millisecond) // polling the receiver
		}
	}
	if ev := waitEvents(1)[0]; ev.Event != "fired" || ev.Alert.ID != a0.ID || ev.Alert.Metric != "http.server.request_count" || ev.Alert.Label != "request_id" {
		t.Fatalf("webhook event %+v", ev)
	}

	// Acknowledge and resolve from the CLI, through the gateway.
	for _, c := range []struct{ verb, state string }{{"ack", apiv1.AlertAcknowledged}, {"resolve", apiv1.AlertResolved}} {
		out := runPhoenix(t, "alert", c.verb, a0.ID, "--api-url", base, "-o", "json")
		var got apiv1.Alert
		if err := json.Unmarshal(out, &got); err != nil || got.State != c.state || got.ID != a0.ID {
			t.Fatalf("phoenix alert %s: %v %s", c.verb, err, out)
		}
	}
	evs := waitEvents(3)
	if evs[1].Event != "acknowledged" || evs[2].Event != "resolved" || evs[2].Alert.ResolvedBy != "admin" {
		t.Fatalf("webhook events after ack and resolve: %s, %s (%+v)", evs[1].Event, evs[2].Event, evs[2].Alert)
	}
	out := runPhoenix(t, "alert", "list", "--state", "resolved", "--api-url", base)
	if !bytes.Contains(out, []byte(a0.ID)) || !bytes.Contains(out, []byte("label request_id on http.server.request_count")) {
		t.Errorf("phoenix alert list --state resolved:\n%s", out)
	}
}

// signedReceiver is a local webhook receiver that checks
// X-Phoenix-Signature (sha256=<hex HMAC-SHA256 of the body>) on every post.
type signedReceiver struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex
	got    []apiv1.Notification
	bad    int
}

func newSignedReceiver(t *testing.T, secret string) *signedReceiver {
	r := &signedReceiver{secret: []byte(secret)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		m := hmac.New(sha256.New, r.secret)
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		var n apiv1.Notification
		r.mu.Lock()
		defer r.mu.Unlock()
		if !hmac.Equal([]byte(req.Header.Get("X-Phoenix-Signature")), []byte(want)) || json.Unmarshal(body, &n) != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.got = append(r.got, n)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *signedReceiver) events() ([]apiv1.Notification, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apiv1.Notification{}, r.got...), r.bad
}

// loginToken logs in as the bootstrap admin.
func loginToken(t *testing.T, base, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return tok.AccessToken
}

// runPhoenix runs the phoenix CLI's client commands in process.
func runPhoenix(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	root := phoenixcli.NewRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("phoenix %v: %v\n%s", args, err, out.String())
	}
	return out.Bytes()
}
