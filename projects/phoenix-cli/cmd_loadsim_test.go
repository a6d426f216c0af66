package phoenixcli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// otlpSink counts the processes (ResourceMetrics) posted to /v1/metrics.
func otlpSink(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		raw, _ := io.ReadAll(zr)
		var req colmetricspb.ExportMetricsServiceRequest
		if r.URL.Path != "/v1/metrics" || proto.Unmarshal(raw, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		n.Add(int64(len(req.ResourceMetrics)))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestLoadsimRunJSON(t *testing.T) {
	srv, n := otlpSink(t)
	out, errOut, err := runCLI(t, "loadsim", "run", "--profile", "realistic", "--hosts", "2", "--target", srv.URL,
		"--duration", "300ms", "--interval", "100ms", "--seed", "4", "-o", "json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut)
	}
	var sum loadsimSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, out)
	}
	// Real clock: on a loaded machine a scrape may be skipped, never queued.
	st := sum.Stats
	if sum.Seed != 4 || st.Scrapes+st.SkippedScrapes != 3 || st.Scrapes == 0 || st.DatapointsSent != n.Load()*9 || n.Load() != st.Scrapes*2*30 {
		t.Fatalf("summary %+v; sink got %d processes", sum, n.Load())
	}
	if got := strings.Count(errOut, "loadsim: "); got != 1+int(st.Scrapes) { // the banner and one line per scrape
		t.Errorf("stderr has %d progress lines, want %d:\n%s", got, 1+st.Scrapes, errOut)
	}
}

func TestLoadsimRunCustomProfile(t *testing.T) {
	srv, n := otlpSink(t)
	file := filepath.Join(t.TempDir(), "custom.yaml")
	if err := os.WriteFile(file, []byte("processes:\n  - {name: worker, count: 5, cpu: spiky, memory: growing}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, "loadsim", "run", "--profile", "custom", "--profile-file", file, "--target", srv.URL,
		"--duration", "100ms", "--interval", "100ms", "-q")
	if err != nil || n.Load() != 5 || errOut != "" { // one scrape: the first is at once
		t.Fatalf("err %v, sink got %d processes (want 5), stderr %q", err, n.Load(), errOut)
	}
}

func TestLoadsimRunBadFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("processes:\n  - {name: w, count: 1, cpu: wobbly, memory: steady}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "nope", "--target", "http://127.0.0.1:1"}, `unknown profile "nope"`},
		{[]string{"--target", "ftp://x:1"}, "scheme must be http, https, grpc or grpcs"},
		{[]string{"--target", "127.0.0.1:4317"}, "no scheme"},
		{[]string{"--hosts", "0", "--target", "http://127.0.0.1:1"}, "--hosts: must be at least 1, got 0"},
		{[]string{"--target", "http://127.0.0.1:1", "--interval", "1ms"}, "--interval: must be at least 100ms"},
		{[]string{"--target", "http://127.0.0.1:1", "--header", "novalue"}, `--header "novalue": want KEY=VALUE`},
		{[]string{"--profile", "custom", "--target", "http://127.0.0.1:1"}, "needs --profile-file"},
		{[]string{"--profile", "custom", "--profile-file", bad, "--target", "http://127.0.0.1:1"}, "processes[0].cpu: must be one of"},
		{[]string{}, `required flag(s) "target" not set`},
		// Several problems are reported together.
		{[]string{"--profile", "nope", "--hosts", "-1", "--target", "x"}, "--hosts: must be at least 1"},
	}
	for _, tc := range tests {
		_, _, err := runCLI(t, append([]string{"loadsim", "run"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("loadsim run %v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestLoadsimProfiles(t *testing.T) {
	out, _, err := runCLI(t, "loadsim", "profiles")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"realistic", "high-cardinality", "process-churn", "spike", "custom"} {
		if !strings.Contains(out, p) {
			t.Errorf("profiles output lacks %s:\n%s", p, out)
		}
	}
}
