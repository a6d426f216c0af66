package anomalydetector

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
)

// Signals the detector can watch per stream, computed from each rollup.
const (
	SignalActiveSeries    = detect.ActiveSeries
	SignalNewSeriesPerMin = detect.NewSeriesPerMin
	SignalDPPerS          = detect.DPPerS
	SignalBytesPerS       = detect.BytesPerS
)

// AllSignals lists the signals in a stable order.
var AllSignals = []string{SignalActiveSeries, SignalNewSeriesPerMin, SignalDPPerS, SignalBytesPerS}

// Config is the anomaly-detector section (YAML `anomaly-detector:`, flags
// --anomaly-detector-*): which signals are
// watched, how many series may be tracked, and the explosion rule.
type Config struct {
	Signals []string `yaml:"signals" flag:"signals" usage:"signals watched per stream: active_series, new_series_per_min, dp_per_s, bytes_per_s"`
	// MaxSeries bounds the (stream, signal) ensembles held in memory
	// (about 40 KB each once warm); a stream that does not fit is refused
	// and counted.
	MaxSeries int `yaml:"max_series" flag:"max-series" usage:"most (stream, signal) detector series tracked; streams beyond are refused and counted"`
	// IdleAfter: a stream without rollups this long gives its room to a
	// new stream when max_series is reached (analytics drops streams idle
	// for an hour; experiments leave variant streams behind).
	IdleAfter time.Duration `yaml:"idle_after" flag:"idle-after" usage:"a stream without rollups this long makes room for a new one when max_series is reached"`
	// DetectorAlerts raises an `anomaly` alert when an ensemble labels a
	// point; the explosion rule fires regardless.
	DetectorAlerts bool `yaml:"detector_alerts" flag:"detector-alerts" usage:"raise an anomaly alert when a detector ensemble labels a signal's point"`
	// WarmupPoints is how many rollups a series needs before its labels
	// raise alerts: the first points teach the detectors what normal is.
	WarmupPoints int `yaml:"warmup_points" flag:"warmup-points" usage:"rollups a series needs before its detector labels raise alerts"`
	// ExplosionPct and ExplosionSeries: active series grew by at least this
	// percentage AND this many series over the lowest of the last
	// ExplosionWindows rollups.
	ExplosionPct     float64 `yaml:"explosion_pct" flag:"explosion-pct" usage:"explosion rule: growth of active series in percent"`
	ExplosionSeries  int64   `yaml:"explosion_series" flag:"explosion-series" usage:"explosion rule: growth of active series in series"`
	ExplosionWindows int     `yaml:"explosion_windows" flag:"explosion-windows" usage:"explosion rule: rollup windows the growth may take"`
	// ResolveWindows: an alert resolves itself after its condition has been
	// clear for this many rollups in a row.
	ResolveWindows int `yaml:"resolve_windows" flag:"resolve-windows" usage:"rollups a condition must stay clear before its alert resolves itself"`
	// BreakdownEvery: how often (in rollups) the stream's cardinality
	// breakdown is fetched from analytics as the baseline an explosion is
	// diffed against. A breakdown of a million-series stream costs
	// analytics seconds of CPU, so the default is every 30 rollups (5 min
	// at analytics' default 10 s interval), not every rollup.
	BreakdownEvery int `yaml:"breakdown_every" flag:"breakdown-every" usage:"rollups between baseline cardinality breakdowns fetched from analytics"`
	// CheckpointInterval: how often detector state is written to the
	// database (and always on shutdown).
	CheckpointInterval time.Duration `yaml:"checkpoint_interval" flag:"checkpoint-interval" usage:"how often detector state is saved to the database"`
	// Hysteresis is the band under a user rule's threshold, in percent of
	// it, its value must fall below (for resolve_windows rollups) before
	// the alert resolves: a series hovering at the threshold does not flap.
	Hysteresis float64 `yaml:"hysteresis_pct" flag:"hysteresis-pct" usage:"alert rules: percent under the threshold a value must fall to count as clear"`
	// NotifyQueue bounds the notifications waiting for delivery; beyond it
	// a notification is recorded as failed and counted.
	NotifyQueue int `yaml:"notify_queue" flag:"notify-queue" usage:"notifications waiting for delivery at most"`
	// NotifyAttempts and NotifyBackoff: tries per notification, and the
	// wait after the first failed one (doubled each time, at most 1 min).
	NotifyAttempts int           `yaml:"notify_attempts" flag:"notify-attempts" usage:"tries per notification"`
	NotifyBackoff  time.Duration `yaml:"notify_backoff" flag:"notify-backoff" usage:"wait after a failed notification, doubled per try"`
	// Threshold is the ensemble's label threshold (pkg/anomaly, 0 = its default 0.5).
	Threshold float64 `yaml:"threshold" flag:"threshold" usage:"detector ensemble's label threshold in (0,1]; 0 = the default 0.5"`
}

// DefaultConfig returns the defaults: every signal, 4,000 series, an
// explosion is +50 % and +1,000 series within two rollups.
func DefaultConfig() Config {
	return Config{
		Signals: slices.Clone(AllSignals), MaxSeries: 4000, IdleAfter: time.Hour, DetectorAlerts: true, WarmupPoints: 60,
		ExplosionPct: 50, ExplosionSeries: 1000, ExplosionWindows: 2, ResolveWindows: 3,
		BreakdownEvery: 30, CheckpointInterval: 5 * time.Minute,
		Hysteresis: 10, NotifyQueue: 1000, NotifyAttempts: 5, NotifyBackoff: time.Second,
	}
}

// ConfigFrom returns the section in cfg, registering the defaults on first
// use (tests set fields before starting the service).
func ConfigFrom(cfg *config.Server) *Config {
	return config.SectionOf(cfg, config.ServiceAnomalyDetector, DefaultConfig)
}

// Validate reports every problem at once, naming each YAML key.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Signals) == 0 {
		errs = append(errs, errors.New("anomaly-detector.signals: name at least one signal"))
	}
	for _, s := range c.Signals {
		if !slices.Contains(AllSignals, s) {
			errs = append(errs, fmt.Errorf("anomaly-detector.signals: unknown signal %q (known: %v)", s, AllSignals))
		}
	}
	if c.MaxSeries < 1 {
		errs = append(errs, errors.New("anomaly-detector.max_series: must be at least 1"))
	}
	if c.IdleAfter < 0 {
		errs = append(errs, errors.New("anomaly-detector.idle_after: must not be negative"))
	}
	if c.WarmupPoints < 0 {
		errs = append(errs, errors.New("anomaly-detector.warmup_points: must not be negative"))
	}
	if c.ExplosionPct <= 0 {
		errs = append(errs, errors.New("anomaly-detector.explosion_pct: must be positive"))
	}
	if c.ExplosionSeries < 1 {
		errs = append(errs, errors.New("anomaly-detector.explosion_series: must be at least 1"))
	}
	if c.ExplosionWindows < 1 || c.ExplosionWindows > maxWindows {
		errs = append(errs, fmt.Errorf("anomaly-detector.explosion_windows: must be from 1 to %d", maxWindows))
	}
	if c.ResolveWindows < 1 {
		errs = append(errs, errors.New("anomaly-detector.resolve_windows: must be at least 1"))
	}
	if c.BreakdownEvery < 1 {
		errs = append(errs, errors.New("anomaly-detector.breakdown_every: must be at least 1"))
	}
	if c.CheckpointInterval <= 0 {
		errs = append(errs, errors.New("anomaly-detector.checkpoint_interval: must be positive"))
	}
	if c.Hysteresis <= 0 || c.Hysteresis >= 100 {
		errs = append(errs, errors.New("anomaly-detector.hysteresis_pct: must be in (0, 100)"))
	}
	if c.NotifyQueue < 1 {
		errs = append(errs, errors.New("anomaly-detector.notify_queue: must be at least 1"))
	}
	if c.NotifyAttempts < 1 {
		errs = append(errs, errors.New("anomaly-detector.notify_attempts: must be at least 1"))
	}
	if c.NotifyBackoff <= 0 {
		errs = append(errs, errors.New("anomaly-detector.notify_backoff: must be positive"))
	}
	if c.Threshold < 0 || c.Threshold > 1 {
		errs = append(errs, errors.New("anomaly-detector.threshold: must be in [0, 1]"))
	}
	return errors.Join(errs...)
}

// maxWindows bounds the recent values kept per stream.
const maxWindows = 60
