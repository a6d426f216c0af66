package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/phoenix-platform/phoenix/projects/collector/internal/hostmetricstest"
)

// sink is an OTLP/HTTP metrics server that keeps what it receives.
type sink struct {
	mu       sync.Mutex
	received []pmetric.Metrics
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.received = append(s.received, req.Metrics())
	s.mu.Unlock()
	resp, _ := pmetricotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// latest returns the last batch received, if any.
func (s *sink) latest() (pmetric.Metrics, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.received) == 0 {
		return pmetric.Metrics{}, false
	}
	return s.received[len(s.received)-1], true
}

// post sends md as an OTLP/HTTP protobuf request.
func post(ctx context.Context, url string, md pmetric.Metrics) error {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post: status %d", resp.StatusCode)
	}
	return nil
}

func TestPipelineWithAllPhoenixProcessors(t *testing.T) {
	s := &sink{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	sinkPort := srv.Listener.Addr().(*net.TCPAddr).Port
	otlpPort := freePort(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--config", "testdata/pipeline.yaml")
	cmd.Env = append(os.Environ(),
		"OTLP_HTTP_PORT="+strconv.Itoa(otlpPort),
		"SINK_PORT="+strconv.Itoa(sinkPort),
		"TELEMETRY_PORT="+strconv.Itoa(freePort(t)),
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector output:\n%s", logs.String())
		}
	}()

	url := fmt.Sprintf("http://127.0.0.1:%d/v1/metrics", otlpPort)
	fleet := hostmetricstest.Fleet(2, 10)
	t0 := time.Now().Add(-time.Minute)
	first := hostmetricstest.Scrape(fleet, t0)
	// Poll until the receiver is up: the first accepted request is the first scrape.
	require.Eventually(t, func() bool { return post(ctx, url, first) == nil }, time.Minute, 50*time.Millisecond,
		"the collector never accepted OTLP")
	second := hostmetricstest.Scrape(fleet, t0.Add(10*time.Second))
	require.NoError(t, post(ctx, url, second))
	want := hostmetricstest.Totals(second, "host.name", "state")

	// The aggregate's cumulative output ends at the second scrape's totals:
	// the first scrape counts whole, the second adds its increases.
	var got pmetric.Metrics
	require.Eventually(t, func() bool {
		md, ok := s.latest()
		if !ok {
			return false
		}
		got = md
		totals := hostmetricstest.Totals(md, "host.name", "state")
		for k, v := range want {
			if d := totals[k] - v; d > 1e-6 || d < -1e-6 {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "output never reached the input totals")

	// Per host: the top 2 (proc-0, proc-1), the critical proc-9, and _other_;
	// command line and owner aggregated away.
	byHost := map[string][]string{}
	for _, rm := range got.ResourceMetrics().All() {
		a := rm.Resource().Attributes()
		require.NotContains(t, a.AsRaw(), "process.command_line")
		require.NotContains(t, a.AsRaw(), "process.owner")
		host, _ := a.Get("host.name")
		exe, _ := a.Get("process.executable.name")
		byHost[host.AsString()] = append(byHost[host.AsString()], exe.AsString())
	}
	require.Len(t, byHost, 2)
	for host, exes := range byHost {
		require.ElementsMatch(t, []string{"proc-0", "proc-1", "proc-9", "_other_"}, exes, host)
	}
}
