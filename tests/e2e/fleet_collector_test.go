package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// sink is an independent OTLP/HTTP receiver: it counts metric exports.
type sink struct {
	srv     *httptest.Server
	exports atomic.Int64
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/metrics" {
			http.NotFound(w, r)
			return
		}
		s.exports.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportMetricsServiceResponse
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// collectorConfig exports this host's CPU metrics every second to the test
// sink and to Phoenix's ingest.
func collectorConfig(t *testing.T, sinkURL, ingestAddr string) string {
	t.Helper()
	_, telPort, _ := net.SplitHostPort(testutil.FreeAddr(t))
	return fmt.Sprintf(`receivers:
  hostmetrics:
    collection_interval: 1s
    scrapers:
      cpu: {}
      memory: {}
processors:
  batch: {timeout: 200ms}
exporters:
  otlphttp/sink:
    endpoint: %s
  otlphttp/phoenix:
    endpoint: http://%s
extensions:
  health_check:
    endpoint: %s
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: %s}
  pipelines:
    metrics:
      receivers: [hostmetrics]
      processors: [batch]
      exporters: [otlphttp/sink, otlphttp/phoenix]
`, sinkURL, ingestAddr, testutil.FreeAddr(t), telPort)
}

// TestFleetRealCollector runs the real phoenix-collector under a real agent
// against the control plane (controller + analytics ingest).
func TestFleetRealCollector(t *testing.T) {
	bin := realCollector(t)
	cfg := newConfig(t, "analytics", "controller")
	cp := start(t, cfg)
	ag := startAgent(t, cp.opampURL(), bin, t.TempDir(), "")
	id := ag.ID()
	sk := newSink(t)

	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := cp.agent(t, id)
		return ok && v.Connected
	}, "agent never enrolled")

	good := collectorConfig(t, sk.srv.URL, cfg.Analytics.OTLPHTTPAddr)
	d1 := cp.push(t, id, map[string]any{"config": good, "reason": "e2e"})
	testutil.Eventually(t, 60*time.Second, func() bool {
		v, _ := cp.agent(t, id)
		return v.EffectiveConfigHash == d1.ConfigHash && v.RemoteConfigStatus == "applied" && v.Healthy != nil && *v.Healthy
	}, "config never effective and healthy")
	testutil.Eventually(t, 30*time.Second, func() bool { return sk.exports.Load() > 0 }, "sink received nothing")
	pid := ag.CollectorPID()

	t.Run("invalid config rejected by phoenix-collector validate", func(t *testing.T) {
		bad := strings.Replace(good, "receivers: [hostmetrics]", "receivers: [hostmetrics, bogus]", 1)
		d := cp.push(t, id, map[string]any{"config": bad, "reason": "typo"})
		testutil.Eventually(t, 30*time.Second, func() bool {
			v, _ := cp.agent(t, id)
			return v.RemoteConfigStatus == "failed" && v.RemoteConfigHash == d.ConfigHash && strings.Contains(v.RemoteConfigError, "bogus")
		}, "invalid config not reported failed with the collector's message")
		v, _ := cp.agent(t, id)
		if v.EffectiveConfigHash != d1.ConfigHash || ag.CollectorPID() != pid || !alive(pid) {
			t.Fatalf("the last good config must keep running")
		}
		before := sk.exports.Load()
		testutil.Eventually(t, 30*time.Second, func() bool { return sk.exports.Load() > before }, "export stopped")
	})

	t.Run("killed collector is restarted", func(t *testing.T) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 60*time.Second, func() bool {
			p := ag.CollectorPID()
			return p != 0 && p != pid && ag.Healthy(t.Context())
		}, "collector not restarted")
		pid = ag.CollectorPID()
	})

	t.Run("export continues without the control plane", func(t *testing.T) {
		cp.stop() // OpAMP server and ingest go away
		before := sk.exports.Load()
		testutil.Eventually(t, 30*time.Second, func() bool { return sk.exports.Load() >= before+3 }, "sink stopped receiving")
		if ag.CollectorPID() != pid || !ag.Healthy(t.Context()) {
			t.Fatalf("collector disturbed by the control plane stopping")
		}
	})
}
