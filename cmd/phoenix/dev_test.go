package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDevCollectorConfig: the --dev collector's config, from the server's
// settings through pipelinegen, matches testdata/<name>.yaml (refresh with
// -update) and the real collector accepts it.
func TestDevCollectorConfig(t *testing.T) {
	custom := config.DefaultServer()
	custom.Analytics.OTLPHTTPAddr = "0.0.0.0:9318"
	custom.Controller.DevOTLPGRPCAddr = "127.0.0.1:24317"
	custom.Controller.DevOTLPHTTPAddr = "127.0.0.1:24318"
	custom.Controller.DevTelemetryAddr = "127.0.0.1:28888"
	custom.Controller.DevHealthAddr = "127.0.0.1:23133"
	defaults := config.DefaultServer()
	tests := []struct {
		name          string
		cfg           *config.Server
		hostProcesses bool
	}{
		{"dev_linux", &defaults, true},
		{"dev_no_hostmetrics", &defaults, false},
		{"dev_custom_addrs", &custom, true},
	}
	var validated []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pipelinegen.GenerateDev(devPipeline(tt.cfg, tt.hostProcesses))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(golden, res.Config, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Config) != string(want) {
				t.Fatalf("config differs from %s (run with -update):\n%s", golden, res.Config)
			}
			validated = append(validated, golden)
		})
	}
	t.Run("collector_validate", func(t *testing.T) {
		bin := collectortest.Bin(t)
		for _, golden := range validated {
			out, err := exec.Command(bin, "validate", "--config", golden).CombinedOutput()
			if err != nil {
				t.Errorf("phoenix-collector validate %s: %v\n%s", golden, err, out)
			}
		}
	})
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
