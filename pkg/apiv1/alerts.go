package apiv1

import "time"

// Alert states: firing -> acknowledged -> resolved (firing -> resolved too).
const (
	AlertFiring       = "firing"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert severities.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// Alert rules the anomaly detector evaluates.
const (
	// RuleExplosion: a stream's active series jumped (+X % and +N series
	// within a few rollup windows); Metric and Label name the cause.
	RuleExplosion = "explosion"
	// RuleAnomaly: a detector ensemble labelled a point of one of the
	// stream's signals (Signal) anomalous.
	RuleAnomaly = "anomaly"
)

// Alert is one alert of GET /api/v1/alerts. It is deduplicated by (Rule,
// Stream, Metric, Label, Signal): while one is open (firing or
// acknowledged) the same condition updates it instead of opening another.
// Team is the stream's team; other teams do not see it.
type Alert struct {
	ID             string       `json:"id"`
	Rule           string       `json:"rule"`
	Severity       string       `json:"severity"`
	State          string       `json:"state"`
	Stream         string       `json:"stream"`
	Team           string       `json:"team"`
	Metric         string       `json:"metric"`
	Label          string       `json:"label"`
	Signal         string       `json:"signal,omitempty"`
	Summary        string       `json:"summary"`
	Value          float64      `json:"value"`    // the signal's value when it last fired
	Baseline       float64      `json:"baseline"` // its value before the condition began
	Attribution    *Attribution `json:"attribution,omitempty"`
	StartedAt      time.Time    `json:"started_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	AcknowledgedAt *time.Time   `json:"acknowledged_at"`
	AcknowledgedBy string       `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time   `json:"resolved_at"`
	ResolvedBy     string       `json:"resolved_by,omitempty"` // a user, or "auto" when the condition cleared
}

// Attribution explains an explosion from two of analytics' cardinality
// breakdowns of the stream, WindowSeconds apart: the label of Metric whose
// distinct values grew most.
type Attribution struct {
	NewValues       int64   `json:"new_values"`        // distinct values the label gained
	MetricNewSeries int64   `json:"metric_new_series"` // series the metric gained
	NewSeries       int64   `json:"new_series"`        // series the stream gained
	ShareOfNew      float64 `json:"share_of_new"`      // MetricNewSeries / NewSeries, in [0,1]
	WindowSeconds   float64 `json:"window_seconds"`
	// Baseline is false when no earlier breakdown was kept (the first
	// look at the stream): growth is then counted from zero.
	Baseline bool `json:"baseline"`
}
