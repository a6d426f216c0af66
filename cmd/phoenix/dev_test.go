package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDevCollectorConfig(t *testing.T) {
	tests := []struct {
		name string
		s    devSettings
	}{
		{"dev_linux", devSettings{OTLPGRPC: "127.0.0.1:14317", OTLPHTTP: "127.0.0.1:14318", Telemetry: "127.0.0.1:18888",
			Health: "127.0.0.1:13133", Ingest: "http://127.0.0.1:4318", HostMetrics: true}},
		{"dev_no_hostmetrics", devSettings{OTLPGRPC: "127.0.0.1:14317", OTLPHTTP: "127.0.0.1:14318", Telemetry: "127.0.0.1:18888",
			Health: "127.0.0.1:13133", Ingest: "http://127.0.0.1:4318"}},
	}
	bin := filepath.Join("..", "..", "bin", "phoenix-collector")
	if b := os.Getenv("PHOENIX_COLLECTOR_BIN"); b != "" {
		bin = b
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := devCollectorConfig(tt.s)
			golden := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("config differs from %s (run with -update):\n%s", golden, got)
			}
			if _, err := os.Stat(bin); err != nil {
				if testutil.InCI() {
					t.Fatalf("phoenix-collector is required in CI: %v", err)
				}
				t.Skipf("phoenix-collector not built: %v", err)
			}
			out, err := exec.Command(bin, "validate", "--config", golden).CombinedOutput()
			if err != nil {
				t.Fatalf("phoenix-collector validate %s: %v\n%s", golden, err, out)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	for in, want := range map[string]string{
		":4320": "127.0.0.1:4320", "0.0.0.0:4318": "127.0.0.1:4318", "[::]:4318": "127.0.0.1:4318",
		"10.0.0.5:4320": "10.0.0.5:4320", "localhost:1": "localhost:1",
	} {
		if got := loopback(in); got != want {
			t.Errorf("loopback(%q) = %q, want %q", in, got, want)
		}
	}
}
