package pipelinegen

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

var update = flag.Bool("update", false, "rewrite testdata outputs from the real collector")

// badCases reads testdata/bad/*.yaml: each starts with "# want: <path>".
func badCases(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad files: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want, ok := strings.CutPrefix(first, "# want: ")
		if !ok {
			t.Fatalf("%s: first line must be # want: <path>", f)
		}
		out[f] = want
	}
	return out
}

// TestParseCollectorErrorRecorded maps the recorded output of the real
// collector (testdata/bad/*.out, refreshed with -update) to paths.
func TestParseCollectorErrorRecorded(t *testing.T) {
	for f, want := range badCases(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			outFile := strings.TrimSuffix(f, ".yaml") + ".out"
			if *update {
				out, err := exec.Command(collectortest.Bin(t), "validate", "--config", f).CombinedOutput()
				if err == nil {
					t.Fatalf("%s: the collector accepted it", f)
				}
				if err := os.WriteFile(outFile, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := os.ReadFile(outFile)
			if err != nil {
				t.Fatalf("read %s: %v (refresh with -update)", outFile, err)
			}
			errs := ParseCollectorError(string(out))
			if len(errs) == 0 || errs[0].Path != want {
				t.Fatalf("paths %v, want first %q", errs, want)
			}
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("empty message for %q", e.Path)
				}
			}
		})
	}
}

// TestValidatorRealCollector runs the binary on every bad config and on a
// good one.
func TestValidatorRealCollector(t *testing.T) {
	v := NewValidator(collectortest.Bin(t))
	for f, want := range badCases(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			errs, err := v.Validate(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) == 0 || errs[0].Path != want {
				t.Fatalf("got %v, want first path %q", errs, want)
			}
			if strings.Contains(errs[0].Message, os.TempDir()) {
				t.Errorf("message leaks the temp file: %q", errs[0].Message)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		res, err := Generate(Request{Template: "baseline", Target: Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}})
		if err != nil {
			t.Fatal(err)
		}
		errs, err := v.Validate(context.Background(), res.Config)
		if err != nil || len(errs) > 0 {
			t.Fatalf("baseline rejected: %v %v", errs, err)
		}
	})
}

func TestValidatorMissingBinary(t *testing.T) {
	v := NewValidator(filepath.Join(t.TempDir(), "no-such-collector"))
	if ok, why := v.Available(); ok || why == "" {
		t.Fatalf("Available() = %v, %q", ok, why)
	}
	_, err := v.Validate(context.Background(), []byte("receivers: {}\n"))
	if err == nil || !strings.Contains(err.Error(), ErrNoCollector.Error()) {
		t.Fatalf("err = %v, want ErrNoCollector", err)
	}
}

// TestParseCollectorErrorJoined: a component's Validate may join several
// errors; each line names its own key under the same component.
func TestParseCollectorErrorJoined(t *testing.T) {
	out := "Error: processors::phoenix_topk/a: k: must be at least 1\nwindow: must be positive\n" +
		"phoenix-collector: processors::phoenix_topk/a: k: must be at least 1\nwindow: must be positive\n"
	got := ParseCollectorError(out)
	want := []problem.FieldError{
		{Path: "processors::phoenix_topk/a::k", Message: "must be at least 1"},
		{Path: "processors::phoenix_topk/a::window", Message: "must be positive"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func FuzzParseCollectorError(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.out")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(string(b))
	}
	f.Add("Error: processors::phoenix_topk/a: k: x\ny: z")
	f.Fuzz(func(t *testing.T, s string) {
		errs := ParseCollectorError(s)
		if len(errs) == 0 {
			t.Fatal("no error for a failed validation")
		}
	})
}

// BenchmarkGenerateAndValidate is the target: generation plus
// validation by the real collector under 100 ms for a typical config. The
// subprocess start dominates.
// Each iteration generates a distinct config (its telemetry port changes),
// so every validation spawns the collector ("cold"); "cached" repeats one.
func BenchmarkGenerateAndValidate(b *testing.B) {
	bin := collectortest.Bin(b)
	for _, tmpl := range []string{"baseline", "balanced"} {
		b.Run(tmpl+"/cold", func(b *testing.B) {
			v := NewValidator(bin)
			port := 20000
			b.ReportAllocs()
			for b.Loop() {
				port++
				req := Request{Template: tmpl, TelemetryAddr: "127.0.0.1:" + strconv.Itoa(port), Target: Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}}
				res, err := Generate(req)
				if err != nil {
					b.Fatal(err)
				}
				errs, err := v.Validate(context.Background(), res.Config)
				if err != nil || len(errs) > 0 {
					b.Fatalf("validate: %v %v", errs, err)
				}
			}
		})
		b.Run(tmpl+"/cached", func(b *testing.B) {
			v := NewValidator(bin)
			req := Request{Template: tmpl, Target: Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}}
			b.ReportAllocs()
			for b.Loop() {
				res, err := Generate(req)
				if err != nil {
					b.Fatal(err)
				}
				errs, err := v.Validate(context.Background(), res.Config)
				if err != nil || len(errs) > 0 {
					b.Fatalf("validate: %v %v", errs, err)
				}
			}
		})
	}
}

// TestValidatorCacheBounded: verdicts are remembered by hash, at most
// cacheSize of them.
func TestValidatorCacheBounded(t *testing.T) {
	v := NewValidator("unused")
	for i := range cacheSize + 10 {
		v.remember(strconv.Itoa(i), verdict{})
	}
	if len(v.cache) != cacheSize || len(v.order) != cacheSize {
		t.Fatalf("cache holds %d (%d in order), want %d", len(v.cache), len(v.order), cacheSize)
	}
	if _, ok := v.cache["0"]; ok {
		t.Fatal("oldest entry not evicted")
	}
}

func TestForeignProviderRefs(t *testing.T) {
	cfg := []byte("a: ${env:HOME}\nb: '${file:/etc/passwd}'\nc: ${ https://x}\nd: ${https://evil/x}\ne: $${file:literal}\n")
	got := ForeignProviderRefs(cfg)
	if strings.Join(got, ",") != "file,https,https,file" { // $${...} is an escape upstream; refusing it too is merely strict
		t.Fatalf("refs = %v", got)
	}
	if refs := ForeignProviderRefs([]byte("a: ${env:X} ${Y}\n")); len(refs) != 0 {
		t.Fatalf("env refs flagged: %v", refs)
	}
}

// TestValidatorEmptyEnv: with an empty environment, ${env:...} expands to
// nothing, so the collector cannot echo this process's variables.
func TestValidatorEmptyEnv(t *testing.T) {
	bin := collectortest.Bin(t)
	t.Setenv("PHOENIX_TEST_SECRET", "s3cr3t-value")
	cfg, err := os.ReadFile("testdata/bad/bad-ottl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `'name == "a" and'`, `'name == "${env:PHOENIX_TEST_SECRET}" and'`, 1))
	leaky := NewValidator(bin)
	errs, err := leaky.Validate(context.Background(), cfg)
	if err != nil || len(errs) == 0 || !strings.Contains(errs[0].Message, "s3cr3t-value") {
		t.Fatalf("control: the inherited environment should expand: %v %v", errs, err)
	}
	v := NewValidator(bin)
	v.Env = []string{}
	errs, err = v.Validate(context.Background(), cfg)
	if err != nil || len(errs) == 0 {
		t.Fatalf("validate: %v %v", errs, err)
	}
	for _, e := range errs {
		if strings.Contains(e.Message, "s3cr3t-value") {
			t.Fatalf("secret leaked: %v", e)
		}
	}
}
