package topkprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       string
		want     *Config
		errParts []string
	}{
		{id: "phoenix_topk", want: createDefaultConfig().(*Config)},
		{id: "phoenix_topk/custom", want: &Config{
			Window: 30 * time.Second, GroupBy: []string{"host.name", "k8s.node.name"},
			EntityKeys: []string{"process.executable.name", "process.pid"}, RankMetric: "process.memory.usage",
			K: 5, Critical: []string{"sshd", "postgres.*"}, Hysteresis: 90 * time.Second, Decay: 0.25, MaxEntities: 1000,
		}},
		{id: "phoenix_topk/bad", errParts: []string{
			"window:", "entity_keys:", "rank_metric:", "k:", "critical[0]:", "hysteresis:", "decay:", "max_entities:",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id)
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.errParts == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, cfg)
				return
			}
			require.Error(t, err)
			for _, part := range tt.errParts {
				require.Contains(t, err.Error(), part)
			}
		})
	}
}

func TestCriticalIsAnchored(t *testing.T) {
	re, err := compileCritical([]string{"sshd", "post.*"})
	require.NoError(t, err)
	for name, want := range map[string]bool{"sshd": true, "xsshd": false, "sshd2": false, "postgres": true, "my-postgres": false} {
		require.Equal(t, want, re.MatchString(name), name)
	}
}
