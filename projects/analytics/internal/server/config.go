package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
)

// Config is the analytics section's own settings (YAML `analytics:`, flags
// --analytics-*, env PHOENIX_ANALYTICS_*). The ingest listen addresses in the
// same section are shared (config.Analytics): loadsim and the --dev loop
// point at them.
type Config struct {
	StalenessWindow      time.Duration `yaml:"staleness_window" flag:"staleness-window" usage:"a series not seen for this long stops being active"`
	ExactSeriesPerStream int           `yaml:"exact_series_per_stream" flag:"exact-series-per-stream" usage:"series counted exactly per stream; past it a HyperLogLog sketch counts them"`
	MaxSeries            int           `yaml:"max_series" flag:"max-series" usage:"series held exactly over all streams (memory bound); past it they are sketched"`
	MaxStreams           int           `yaml:"max_streams" flag:"max-streams" usage:"streams tracked; data for more streams is refused and counted"`
	MaxMetricsPerStream  int           `yaml:"max_metrics_per_stream" flag:"max-metrics-per-stream" usage:"metric names tracked per stream; more are refused and counted"`
	MaxBodyBytes         int64         `yaml:"max_body_bytes" flag:"max-body-bytes" usage:"largest ingest body, compressed or decompressed (413 beyond)"`
	MaxInflightBytes     int64         `yaml:"max_inflight_bytes" flag:"max-inflight-bytes" usage:"ingest bodies being processed at once (429 beyond)"`
	MemoryLimitBytes     int64         `yaml:"memory_limit_bytes" flag:"memory-limit-bytes" usage:"Go heap above which ingest answers 503; 0 disables the check"`
	RollupInterval       time.Duration `yaml:"rollup_interval" flag:"rollup-interval" usage:"how often each stream's rollup is stored and published"`
	RollupRetention      time.Duration `yaml:"rollup_retention" flag:"rollup-retention" usage:"how long full-resolution rollups are kept"`
	DownsampleInterval   time.Duration `yaml:"downsample_interval" flag:"downsample-interval" usage:"resolution of rollups kept past rollup_retention"`
	DownsampleRetention  time.Duration `yaml:"downsample_retention" flag:"downsample-retention" usage:"how long downsampled rollups are kept"`

	// Limits on what an ingest caller controls, the same for OTLP and remote
	// write (issue 14 §3). A datapoint over one is refused: OTLP partial
	// success, remote write 400 naming the limit.
	MaxMetricNameBytes int `yaml:"max_metric_name_bytes" flag:"max-metric-name-bytes" usage:"longest metric name ingest accepts"`
	MaxLabelNameBytes  int `yaml:"max_label_name_bytes" flag:"max-label-name-bytes" usage:"longest label name (attribute key) ingest accepts"`
	MaxLabelValueBytes int `yaml:"max_label_value_bytes" flag:"max-label-value-bytes" usage:"longest label value (attribute value) ingest accepts"`
	MaxLabelsPerSeries int `yaml:"max_labels_per_series" flag:"max-labels-per-series" usage:"labels per series ingest accepts (OTLP: resource plus datapoint attributes; remote write: besides __name__)"`
	// Per-team quotas (issue 14 §2): the global limits protect the process,
	// these the neighbours. TeamQuotas overrides them per team (YAML only).
	TeamMaxStreams int                  `yaml:"team_max_streams" flag:"team-max-streams" usage:"streams one team may own; more are refused (quota team_stream_quota)"`
	TeamMaxSeries  int                  `yaml:"team_max_series" flag:"team-max-series" usage:"series held exactly over one team's streams; more are sketched (quota team_series_quota)"`
	TeamQuotas     map[string]TeamQuota `yaml:"team_quotas" usage:"per-team overrides of team_max_streams, team_max_series and team_max_datapoints_per_second"`
	// TeamMaxDatapointsPerSecond is each team's ingest rate over its
	// streams, with a burst of 10 s of it; past it OTLP answers 429 (gRPC
	// RESOURCE_EXHAUSTED with RetryInfo) or partial success, remote write 429.
	TeamMaxDatapointsPerSecond int `yaml:"team_max_datapoints_per_second" flag:"team-max-datapoints-per-second" usage:"datapoints/s one team may send over its streams (burst: 10 s of it); more are refused with 429 (quota team_datapoint_quota)"`
}

// TeamQuota overrides the team quotas for one team; zero keeps the default.
type TeamQuota struct {
	MaxStreams int `yaml:"max_streams"`
	MaxSeries  int `yaml:"max_series"`
	// MaxDatapointsPerSecond overrides team_max_datapoints_per_second.
	MaxDatapointsPerSecond int `yaml:"max_datapoints_per_second"`
}

// DefaultConfig returns the analytics defaults.
func DefaultConfig() Config {
	return Config{
		StalenessWindow:      5 * time.Minute,
		ExactSeriesPerStream: 1_000_000, MaxSeries: 4_000_000, MaxStreams: 1000, MaxMetricsPerStream: 10_000,
		MaxBodyBytes: 16 << 20, MaxInflightBytes: 256 << 20, MemoryLimitBytes: 4 << 30,
		RollupInterval: 10 * time.Second, RollupRetention: 24 * time.Hour,
		DownsampleInterval: 5 * time.Minute, DownsampleRetention: 30 * 24 * time.Hour,
		MaxMetricNameBytes: 256, MaxLabelNameBytes: 256, MaxLabelValueBytes: 4096, MaxLabelsPerSeries: 128,
		TeamMaxStreams: 250, TeamMaxSeries: 1_000_000, TeamMaxDatapointsPerSecond: 1_000_000,
	}
}

// ConfigFrom returns the analytics settings registered in cfg (the defaults,
// registered on first use, when the runner did not add them).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceAnalytics, DefaultConfig)
}

// Validate reports every problem at once, naming each YAML key.
func (a *Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"analytics.exact_series_per_stream", int64(a.ExactSeriesPerStream)}, {"analytics.max_series", int64(a.MaxSeries)},
		{"analytics.max_streams", int64(a.MaxStreams)}, {"analytics.max_metrics_per_stream", int64(a.MaxMetricsPerStream)},
		{"analytics.max_body_bytes", a.MaxBodyBytes}, {"analytics.max_inflight_bytes", a.MaxInflightBytes},
		{"analytics.max_metric_name_bytes", int64(a.MaxMetricNameBytes)}, {"analytics.max_label_name_bytes", int64(a.MaxLabelNameBytes)},
		{"analytics.max_label_value_bytes", int64(a.MaxLabelValueBytes)}, {"analytics.max_labels_per_series", int64(a.MaxLabelsPerSeries)},
		{"analytics.team_max_streams", int64(a.TeamMaxStreams)}, {"analytics.team_max_series", int64(a.TeamMaxSeries)},
		{"analytics.team_max_datapoints_per_second", int64(a.TeamMaxDatapointsPerSecond)},
	} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", f.key))
		}
	}
	for team, q := range a.TeamQuotas {
		if q.MaxStreams < 0 || q.MaxSeries < 0 || q.MaxDatapointsPerSecond < 0 {
			errs = append(errs, fmt.Errorf("analytics.team_quotas.%s: quotas must not be negative", team))
		}
	}
	if a.MemoryLimitBytes < 0 {
		errs = append(errs, errors.New("analytics.memory_limit_bytes: must be 0 (off) or positive"))
	}
	if a.MaxInflightBytes > 0 && a.MaxBodyBytes > a.MaxInflightBytes {
		errs = append(errs, errors.New("analytics.max_body_bytes: must not exceed analytics.max_inflight_bytes"))
	}
	if a.StalenessWindow < time.Minute {
		errs = append(errs, errors.New("analytics.staleness_window: must be at least 1m"))
	}
	if a.RollupInterval < time.Second {
		errs = append(errs, errors.New("analytics.rollup_interval: must be at least 1s"))
	}
	if a.RollupRetention < a.RollupInterval {
		errs = append(errs, errors.New("analytics.rollup_retention: must be at least analytics.rollup_interval"))
	}
	if a.DownsampleInterval < a.RollupInterval {
		errs = append(errs, errors.New("analytics.downsample_interval: must be at least analytics.rollup_interval"))
	}
	if a.DownsampleRetention < a.RollupRetention {
		errs = append(errs, errors.New("analytics.downsample_retention: must be at least analytics.rollup_retention"))
	}
	return errors.Join(errs...)
}
