package anomalydetector

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"unknown signal", func(c *Config) { c.Signals = []string{"active_series", "cpu"} }, []string{`anomaly-detector.signals: unknown signal "cpu"`}},
		{"no signals", func(c *Config) { c.Signals = nil }, []string{"anomaly-detector.signals: name at least one"}},
		{"every bound at once", func(c *Config) {
			c.MaxSeries, c.ExplosionPct, c.ExplosionSeries, c.ExplosionWindows, c.ResolveWindows = 0, 0, 0, 61, 0
			c.BreakdownEvery, c.CheckpointInterval, c.Threshold, c.IdleAfter, c.WarmupPoints = 0, 0, 1.5, -1, -1
		}, []string{"max_series", "explosion_pct", "explosion_series", "explosion_windows", "resolve_windows", "breakdown_every",
			"checkpoint_interval", "threshold", "idle_after", "warmup_points"}},
		{"notification bounds", func(c *Config) {
			c.Hysteresis, c.NotifyQueue, c.NotifyAttempts, c.NotifyBackoff = 100, 0, 0, 0
		}, []string{"hysteresis_pct", "notify_queue", "notify_attempts", "notify_backoff"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mod(&cfg)
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
