package pipelinegen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// nestedJSON is an exporter config nested depth levels: {"a":{"a":...}}.
func nestedJSON(depth int) string {
	return `{"endpoint":"collector:4317","a":` + strings.Repeat(`{"a":`, depth) + `1` + strings.Repeat(`}`, depth+1)
}

// TestFreeFormBlockBounds: a request's exporter config past the depth or
// value bound is refused by Generate before it encodes anything, naming
// the path in the collector's form; the 3,000-level body of issue 14
// allocates next to nothing (encoding it took 43 MB).
func TestFreeFormBlockBounds(t *testing.T) {
	deepPath := "exporters::otlp::a" + strings.Repeat("::a", MaxConfigDepth-2) // depth 33
	wide := map[string]any{}
	for i := range MaxConfigValues + 1 {
		wide[fmt.Sprintf("k%05d", i)] = i
	}
	wideJSON, _ := json.Marshal(wide)
	tests := []struct {
		name     string
		typ      string
		config   string
		wantPath string // "" means accepted
		wantMsg  string
	}{
		{"3,000 levels", "otlp", nestedJSON(3000), deepPath, "nested deeper than 32 levels"},
		{"one level past the bound", "otlp", nestedJSON(MaxConfigDepth - 2), deepPath, "nested deeper"},
		{"at the bound", "otlp", nestedJSON(MaxConfigDepth - 3), "", ""},
		{"alias type names the canonical exporter", "otlphttp", nestedJSON(100), "exporters::otlp_http::a" + strings.Repeat("::a", MaxConfigDepth-2), "nested deeper"},
		{"deep lists", "otlp", `{"l":` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 50) + `}`, "exporters::otlp::l" + strings.Repeat("::0", MaxConfigDepth-2), "nested deeper"},
		{"too many values", "otlp", string(wideJSON), "exporters::otlp::k19999", "more than 20000 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg map[string]any
			if err := json.Unmarshal([]byte(tt.config), &cfg); err != nil {
				t.Fatal(err)
			}
			req := Request{Template: "baseline", Target: Target{Exporter: &Exporter{Type: tt.typ, Config: cfg}}}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := Generate(req)
			runtime.ReadMemStats(&after)
			if tt.wantPath == "" {
				if err != nil {
					t.Fatalf("refused within the bounds: %v", err)
				}
				if len(res.Config) == 0 {
					t.Fatal("no config")
				}
				return
			}
			p := problem.From(err)
			if err == nil || p.Status != http.StatusBadRequest || len(p.Errors) != 1 {
				t.Fatalf("got %v, want one 400 field error", err)
			}
			if fe := p.Errors[0]; fe.Path != tt.wantPath || !strings.Contains(fe.Message, tt.wantMsg) {
				t.Fatalf("field error %s: %s, want %s: %s", fe.Path, fe.Message, tt.wantPath, tt.wantMsg)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
				t.Errorf("refusing allocated %d MiB", d>>20)
			}
		})
	}
}

// TestCheckConfig bounds a whole YAML config (what /validate and stored
// versions send), aliases counted at each use.
func TestCheckConfig(t *testing.T) {
	deep := "exporters:\n  otlp: " + strings.Repeat("{a: ", 3000) + "1" + strings.Repeat("}", 3000) + "\n"
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 6; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	tests := []struct {
		name, config, wantPath string
	}{
		{"3,000 levels", deep, "exporters::otlp" + strings.Repeat("::a", MaxConfigDepth-1)},
		{"alias fan-out", bomb.String(), "a4::0::6::8::8::8"},
		{"over the byte bound", strings.Repeat("#", MaxValidateBytes+1), ""},
		{"normal config", "receivers:\n  otlp:\n    protocols:\n      grpc: {}\nexporters:\n  debug: {}\n", "-"},
		{"not YAML is the collector's to report", "a: [", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := CheckConfig([]byte(tt.config))
			if tt.wantPath == "-" {
				if len(errs) != 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Path != tt.wantPath {
				t.Fatalf("got %v, want one error at %q", errs, tt.wantPath)
			}
		})
	}
}

// fakeCollector is a collector binary that records each run in the runs
// file, waits until the release file exists, then rejects the config.
type fakeCollector struct {
	bin, runs, release string
}

func newFakeCollector(t *testing.T) *fakeCollector {
	t.Helper()
	dir := t.TempDir()
	f := &fakeCollector{bin: filepath.Join(dir, "collector"), runs: filepath.Join(dir, "runs"), release: filepath.Join(dir, "release")}
	script := "#!/bin/sh\necho run >> " + f.runs + "\nwhile [ ! -f " + f.release + " ]; do sleep 0.01; done\n" +
		"echo 'Error: exporters::otlp: endpoint: must be host:port' >&2\nexit 1\n"
	if err := os.WriteFile(f.bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeCollector) count(t *testing.T) int {
	b, err := os.ReadFile(f.runs)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run")
}

func (f *fakeCollector) open(t *testing.T) {
	if err := os.WriteFile(f.release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitRunning polls until the validator has n runs in progress for id.
func waitRunning(t *testing.T, v *Validator, id string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v.mu.Lock()
		got := v.running[id]
		v.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d validations running, want %d", id, got, n)
		}
	}
}

// TestValidatorCachesFailures: a rejected config and a timed-out one each
// cost one collector run however often they are sent; identical configs
// sent together share one run; a deep config never reaches the collector.
func TestValidatorCachesFailures(t *testing.T) {
	ctx := context.Background()
	f := newFakeCollector(t)
	v := NewValidator(f.bin)
	f.open(t)
	bad := []byte("exporters:\n  otlp:\n    endpoint: nope\n")
	for i := range 3 {
		errs, err := v.Validate(ctx, bad)
		if err != nil || len(errs) != 1 || errs[0].Path != "exporters::otlp::endpoint" {
			t.Fatalf("call %d: %v %v", i, errs, err)
		}
	}
	if n := f.count(t); n != 1 {
		t.Fatalf("%d collector runs for one rejected config, want 1", n)
	}
	deep := []byte("exporters:\n  otlp: " + strings.Repeat("{a: ", 3000) + "1" + strings.Repeat("}", 3000) + "\n")
	if errs, err := v.Validate(ctx, deep); err != nil || len(errs) != 1 || !strings.HasPrefix(errs[0].Path, "exporters::otlp::a::a") {
		t.Fatalf("deep config: %v %v", errs, err)
	}
	if n := f.count(t); n != 1 {
		t.Fatal("the deep config reached the collector")
	}

	// Timeouts: the collector never finishes.
	slow := newFakeCollector(t)
	v = NewValidator(slow.bin)
	v.Timeout = 100 * time.Millisecond
	for i := range 3 {
		if _, err := v.Validate(ctx, bad); !errors.Is(err, ErrValidationTimeout) || !errors.Is(err, ErrNoCollector) {
			t.Fatalf("call %d: %v, want a timeout", i, err)
		}
	}
	if n := slow.count(t); n != 1 {
		t.Fatalf("%d collector runs for one timed-out config, want 1", n)
	}

	// Together: eight identical requests, one run.
	together := newFakeCollector(t)
	v = NewValidator(together.bin)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			errs, err := v.Validate(ctx, bad)
			if err == nil && len(errs) != 1 {
				err = fmt.Errorf("errs %v", errs)
			}
			results <- err
		})
	}
	for deadline := time.Now().Add(10 * time.Second); together.count(t) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the collector never ran")
		}
	}
	together.open(t)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := together.count(t); n != 1 {
		t.Fatalf("%d runs for eight identical concurrent requests, want 1", n)
	}
}

// TestValidatorCallerLimit: a viewer runs one validation at a time, an
// operator two; the next is 429 at once. Other callers, unmarked calls and
// a request for a config already running are not limited.
func TestValidatorCallerLimit(t *testing.T) {
	f := newFakeCollector(t)
	v := NewValidator(f.bin)
	cfg := func(i int) []byte { return fmt.Appendf(nil, "exporters:\n  otlp:\n    endpoint: x%d\n", i) }
	var wg sync.WaitGroup
	defer wg.Wait()
	defer f.open(t)
	start := func(ctx context.Context, i int) {
		wg.Go(func() { _, _ = v.Validate(ctx, cfg(i)) })
	}
	viewer := WithCaller(context.Background(), "viewer-1", "viewer")
	operator := WithCaller(context.Background(), "op-1", "operator")

	start(viewer, 1)
	waitRunning(t, v, "viewer-1", 1)
	_, err := v.Validate(viewer, cfg(2))
	if p := problem.From(err); err == nil || p.Status != http.StatusTooManyRequests || p.RetryAfter == 0 {
		t.Fatalf("viewer's second validation: %v, want 429 with Retry-After", err)
	}

	start(operator, 3)
	start(operator, 4)
	waitRunning(t, v, "op-1", 2)
	if _, err := v.Validate(operator, cfg(5)); problem.From(err).Status != http.StatusTooManyRequests {
		t.Fatalf("operator's third validation: %v, want 429", err)
	}

	// Not limited: another viewer, an unmarked caller, the same config.
	start(WithCaller(context.Background(), "viewer-2", "viewer"), 6)
	waitRunning(t, v, "viewer-2", 1)
	start(context.Background(), 7)
	short, cancel := context.WithTimeout(viewer, 100*time.Millisecond)
	defer cancel()
	if _, err := v.Validate(short, cfg(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the viewer's config already running: %v, want to wait for it", err)
	}

	f.open(t)
	wg.Wait()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.running) != 0 || len(v.inflight) != 0 {
		t.Fatalf("left behind: running %v, inflight %d", v.running, len(v.inflight))
	}
}

// BenchmarkRefuseDeepExporterConfig is issue 14's body (an exporter config
// nested 3,000 levels) from JSON decode to Generate's refusal.
func BenchmarkRefuseDeepExporterConfig(b *testing.B) {
	body := []byte(`{"template":"baseline","target":{"exporter":{"type":"otlp","config":` + nestedJSON(3000) + `}}}`)
	b.ReportAllocs()
	for b.Loop() {
		var req Request
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := Generate(req); err == nil {
			b.Fatal("accepted")
		}
	}
}
