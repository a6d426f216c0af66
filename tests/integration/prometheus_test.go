package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// targetMetrics is what the scraped target exposes: a counter, a gauge and
// a histogram, 14 series in all.
const targetMetrics = `# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{code="200",path="/a"} 10
app_requests_total{code="200",path="/b"} 4
app_requests_total{code="500",path="/a"} 1
# HELP app_queue_depth Items waiting.
# TYPE app_queue_depth gauge
app_queue_depth{queue="q1"} 3
app_queue_depth{queue="q2"} 0
# HELP app_latency_seconds Request latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.1"} 4
app_latency_seconds_bucket{le="0.5"} 9
app_latency_seconds_bucket{le="1"} 12
app_latency_seconds_bucket{le="2.5"} 14
app_latency_seconds_bucket{le="5"} 14
app_latency_seconds_bucket{le="10"} 15
app_latency_seconds_bucket{le="+Inf"} 15
app_latency_seconds_sum 9.5
app_latency_seconds_count 15
`

// TestPrometheusRemoteWrite runs a real Prometheus (Debian's 2.42) that
// scrapes a local target and remote-writes into Phoenix with ?stream=
// (Prometheus does not send remote_write headers): once both settle,
// Phoenix's active series for the stream equal Prometheus's own
// prometheus_tsdb_head_series, and no other stream received anything.
func TestPrometheusRemoteWrite(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if testutil.InCI() {
			t.Fatal("prometheus is not installed (.ci/run installs the Debian package)")
		}
		t.Skip("prometheus not installed (apt-get install prometheus)")
	}
	cfg := testConfig(t)
	// The count is the subject here, not authentication: ingest takes no
	// token, as with --dev.
	cfg.Auth.IngestOpen = true
	startApp(t, cfg)
	base := "http://" + cfg.API.Addr
	tok := token(t, base)

	// The target.
	targetAddr := testutil.FreeAddr(t)
	ln, err := net.Listen("tcp", targetAddr)
	if err != nil {
		t.Fatal(err)
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(targetMetrics))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = target.Serve(ln) }()
	t.Cleanup(func() { _ = target.Close() })

	// Prometheus, not scraping itself: its head holds the target's series
	// and the five it adds per target (up, scrape_*).
	const stream = "prom-it"
	dir := t.TempDir()
	promAddr := testutil.FreeAddr(t)
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["%s"]
remote_write:
  - url: "http://%s/api/v1/write?stream=%s"
    queue_config:
      batch_send_deadline: 1s
    metadata_config:
      send_interval: 1s
`, targetAddr, cfg.Analytics.OTLPHTTPAddr, stream)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	promURL := "http://" + promAddr
	testutil.Eventually(t, 30*time.Second, func() bool {
		code, _ := get(t, promURL+"/-/ready", "")
		return code == http.StatusOK
	}, "prometheus did not become ready")
	// Query Prometheus's API once before counting, as a user would; its
	// own API handlers would create series were it scraping itself.
	if code, body := get(t, promURL+"/api/v1/query?query=up", ""); code != http.StatusOK {
		t.Fatalf("prometheus query: %d %s", code, body)
	}

	headSeries := func() int64 {
		code, body := get(t, promURL+"/metrics", "")
		if code != http.StatusOK {
			return -1
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "prometheus_tsdb_head_series "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return -1
				}
				return int64(f)
			}
		}
		return -1
	}
	phoenix := func() (apiv1.CardinalityReport, bool) {
		var rep apiv1.CardinalityReport
		code, body := get(t, base+"/api/v1/streams/"+stream+"/cardinality", tok)
		return rep, code == http.StatusOK && json.Unmarshal(body, &rep) == nil
	}
	const wantSeries = 14 + 5 // the target's, and up and scrape_* per target
	var head int64
	var rep apiv1.CardinalityReport
	// Settled: both agree on the series the target and scrape produce, and
	// keep agreeing for two scrape intervals.
	var since time.Time
	testutil.Eventually(t, 60*time.Second, func() bool {
		var ok bool
		head = headSeries()
		rep, ok = phoenix()
		if !ok || head != wantSeries || rep.ActiveSeries != head || !rep.Exact {
			since = time.Time{}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) >= 2*time.Second
	}, "phoenix and prometheus did not settle on %d series (last seen: %v)", wantSeries, lazy(func() string {
		return fmt.Sprintf("prometheus %d, phoenix %d", head, rep.ActiveSeries)
	}))

	// Nothing landed in the default stream.
	if code, _ := get(t, base+"/api/v1/streams/"+apiv1.DefaultStream+"/cardinality", tok); code != http.StatusNotFound {
		t.Errorf("default stream: %d, want 404 (everything goes to %s)", code, stream)
	}
	names := map[string]bool{}
	for _, m := range rep.Metrics {
		names[m.Name] = true
	}
	for _, n := range []string{"app_requests_total", "app_queue_depth", "app_latency_seconds_bucket", "up", "scrape_duration_seconds"} {
		if !names[n] {
			t.Errorf("metric %s missing from phoenix's breakdown", n)
		}
	}

	// Types come from Prometheus's metadata (sent every second here), not
	// inferred from the names. The breakdown is cached for 2 s.
	wantTypes := map[string]string{"app_requests_total": "sum", "app_queue_depth": "gauge",
		"app_latency_seconds_bucket": "histogram", "app_latency_seconds_count": "histogram", "app_latency_seconds_sum": "histogram"}
	var types map[string]string
	testutil.Eventually(t, 30*time.Second, func() bool {
		rep, ok := phoenix()
		if !ok {
			return false
		}
		types = map[string]string{}
		for _, m := range rep.Metrics {
			if _, ok := wantTypes[m.Name]; ok && !m.TypeInferred {
				types[m.Name] = m.Type
			}
		}
		return fmt.Sprint(types) == fmt.Sprint(wantTypes)
	}, "metric types from metadata: %v, want %v", lazy(func() string { return fmt.Sprint(types) }), wantTypes)
}

// lazy renders its text when printed, for failure messages about values
// that change while polling.
type lazy func() string

func (l lazy) String() string { return l() }
