package loadsim

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // fragments; none means valid
	}{
		{name: "defaults", mod: func(*Config) {}},
		{name: "self and real targets", mod: func(c *Config) {
			c.AllowedTargets = []string{Self, "https://otel.example.com:4318", "grpc://collector:4317"}
		}},
		{name: "bad targets named one by one", mod: func(c *Config) {
			c.AllowedTargets = []string{"ftp://x:21", "http//nohost"}
		}, want: []string{`loadsim.allowed_targets: malformed URL "ftp://x:21"`, `loadsim.allowed_targets: malformed URL "http//nohost"`}},
		{name: "bounds", mod: func(c *Config) { c.MaxConcurrent, c.MaxDuration, c.MaxProcesses = 0, 0, 0 },
			want: []string{"loadsim.max_concurrent", "loadsim.max_duration", "loadsim.max_processes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
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
