package analytics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/projects/analytics"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*analytics.Config)
		want []string // fragments; none means valid
	}{
		{name: "defaults", mod: func(*analytics.Config) {}},
		{name: "memory check off", mod: func(c *analytics.Config) { c.MemoryLimitBytes = 0 }},
		{name: "limits not positive", mod: func(c *analytics.Config) { c.MaxSeries, c.MaxStreams, c.MemoryLimitBytes = 0, -1, -1 },
			want: []string{"analytics.max_series: must be positive", "analytics.max_streams: must be positive",
				"analytics.memory_limit_bytes: must be 0 (off) or positive"}},
		{name: "team datapoint quota", mod: func(c *analytics.Config) {
			c.TeamMaxDatapointsPerSecond = 0
			c.TeamQuotas = map[string]analytics.TeamQuota{"payments": {MaxDatapointsPerSecond: -1}}
		}, want: []string{"analytics.team_max_datapoints_per_second: must be positive", "analytics.team_quotas.payments: quotas must not be negative"}},
		{name: "team datapoint override", mod: func(c *analytics.Config) {
			c.TeamQuotas = map[string]analytics.TeamQuota{"payments": {MaxDatapointsPerSecond: 5_000_000}}
		}},
		{name: "body above in-flight", mod: func(c *analytics.Config) { c.MaxBodyBytes = c.MaxInflightBytes + 1 },
			want: []string{"analytics.max_body_bytes: must not exceed analytics.max_inflight_bytes"}},
		{name: "rollup ladder out of order", mod: func(c *analytics.Config) {
			c.StalenessWindow, c.RollupInterval, c.RollupRetention = time.Second, 500*time.Millisecond, 100*time.Millisecond
			c.DownsampleInterval, c.DownsampleRetention = 0, 0
		}, want: []string{"analytics.staleness_window", "analytics.rollup_interval: must be at least 1s",
			"analytics.rollup_retention", "analytics.downsample_interval", "analytics.downsample_retention"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := analytics.DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid settings accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
