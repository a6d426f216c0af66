package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// sink is an OTLP/HTTP receiver for tests: it keeps every request's
// ResourceMetrics (bounded) and can answer with a scripted status.
type sink struct {
	mu       sync.Mutex
	rms      []*metricspb.ResourceMetrics
	requests int
	headers  []http.Header
	respond  func(n int) (status int, hdr map[string]string) // n = request number from 1; nil = 200
}

const sinkMaxResources = 200000

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/metrics" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req colmetricspb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.headers = append(s.headers, r.Header.Clone())
	respond := s.respond
	s.mu.Unlock()
	if respond != nil {
		if status, hdr := respond(n); status != http.StatusOK {
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			return
		}
	}
	s.mu.Lock()
	if len(s.rms)+len(req.ResourceMetrics) <= sinkMaxResources {
		s.rms = append(s.rms, req.ResourceMetrics...)
	}
	s.mu.Unlock()
	out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (s *sink) resources() []*metricspb.ResourceMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*metricspb.ResourceMetrics(nil), s.rms...)
}

// collectorBin finds phoenix-collector: $PHOENIX_COLLECTOR_BIN, else the
// repository's bin/ (built by `make -C projects/collector build`).
func collectorBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PHOENIX_COLLECTOR_BIN"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", "phoenix-collector"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if testutil.InCI() {
			t.Fatalf("phoenix-collector not found at %s (CI must run `make -C projects/collector build` first): %v", p, err)
		}
		t.Skipf("phoenix-collector not built (%s absent; run `make -C projects/collector build` or set PHOENIX_COLLECTOR_BIN); the shape is checked against the golden file only", p)
	}
	return p
}

// collectorConfig runs the process scraper with the two metrics that are
// off by default enabled (loadsim emits them), resourcedetection(system),
// and OTLP/HTTP to the sink. Telemetry goes to a free port, never :8888.
const collectorConfig = `
receivers:
  hostmetrics:
    collection_interval: 1s
    scrapers:
      process:
        mute_process_name_error: true
        mute_process_exe_error: true
        mute_process_io_error: true
        mute_process_user_error: true
        mute_process_cgroup_error: true
        metrics:
          process.threads: {enabled: true}
          process.open_file_descriptors: {enabled: true}
processors:
  resourcedetection:
    detectors: [system]
exporters:
  otlphttp:
    endpoint: %s
    compression: gzip
service:
  telemetry:
    logs: {level: warn}
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: %d}
  pipelines:
    metrics:
      receivers: [hostmetrics]
      processors: [resourcedetection]
      exporters: [otlphttp]
`

// captureReal runs phoenix-collector until its first scrape reaches a sink.
func captureReal(t *testing.T) []*metricspb.ResourceMetrics {
	t.Helper()
	bin := collectorBin(t)
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(collectorConfig, srv.URL, testutil.FreePort(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config", cfgPath)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel()
			<-exited
		}
		cancel()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if rms := s.resources(); len(rms) > 0 {
			return rms
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("phoenix-collector exited before exporting: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrape from phoenix-collector within 60s\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the sink; the collector's first scrape takes ~1s
	}
}

// TestShapeAgainstRealCollector captures one scrape of this machine from the
// real hostmetrics process scraper + resourcedetection (phoenix-collector at
// contrib v0.160.0), checks it against the golden file, and with -update
// rewrites the golden file from it.
func TestShapeAgainstRealCollector(t *testing.T) {
	rms := captureReal(t)
	real := shapeOf(t, rms)
	for _, sm := range rms[0].GetScopeMetrics() {
		if sm.GetScope().GetName() == ScopeName {
			// Informational: a distribution reports its own build version.
			t.Logf("real scope version %q (the simulator's default %q)", sm.GetScope().GetVersion(), DefaultScopeVersion)
		}
	}
	if len(real.Metrics) == 0 {
		t.Fatal("the capture holds no process scraper metrics")
	}
	if *update {
		g := readGolden(t)
		real.Comment, real.DefaultMetrics = g.Comment, g.DefaultMetrics
		out, _ := json.MarshalIndent(real, "", "  ")
		if err := os.WriteFile(goldenPath, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s from the real collector", goldenPath)
	}
	golden := readGolden(t)
	diffShape(t, "real phoenix-collector", golden, real)
	// And the simulator against the real capture directly.
	sim := simulate(t, ProfileRealistic, 1, 3, false)
	rms, err := sim.Scrape(t0)
	if err != nil {
		t.Fatal(err)
	}
	got := shapeOf(t, rms)
	if !strings.EqualFold(got.ScopeName, real.ScopeName) {
		t.Errorf("scope name: simulator %q, real %q", got.ScopeName, real.ScopeName)
	}
	diffShape(t, "simulator vs real capture", real, got)
}
