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
	// RuleID is the user rule that raised the alert ("" for the detector's
	// built-in explosion and anomaly rules).
	RuleID string `json:"rule_id,omitempty"`
	// Group is the alert's group: alerts of one stream and rule kind share it.
	Group string `json:"group"`
	// SilencedBy is the silence that matched when the alert fired: it is
	// recorded but not notified.
	SilencedBy string `json:"silenced_by,omitempty"`
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

// Kinds of user-defined alert rules (/api/v1/alert-rules). An alert a rule
// raises carries the kind as its Rule and the rule's id as RuleID.
const (
	// RuleMaxActiveSeries: the stream's active series exceed Threshold.
	RuleMaxActiveSeries = "max_active_series"
	// RuleMaxMonthlyCost: the stream's projected monthly cost under
	// PriceModel (analytics' cost model) exceeds Threshold.
	RuleMaxMonthlyCost = "max_monthly_cost"
	// RuleChurn: new series per minute exceed Threshold.
	RuleChurn = "churn"
	// RuleCriticalSignalLost: Metric had series in the stream and has none.
	RuleCriticalSignalLost = "critical_signal_lost"
	// RuleDetectorSeverity: a detector ensemble's score of Signal reaches
	// Threshold (in (0,1]).
	RuleDetectorSeverity = "detector_severity"
	// RuleExplosion (above) as a user rule: the explosion the detector
	// found on the stream, raised with the rule's severity and routing.
)

// RuleKinds lists the kinds a rule may have, in a stable order.
var RuleKinds = []string{RuleMaxActiveSeries, RuleMaxMonthlyCost, RuleExplosion, RuleChurn, RuleCriticalSignalLost, RuleDetectorSeverity}

// AlertRule is one rule of /api/v1/alert-rules: evaluated on every rollup of
// Stream (or of every stream of Team when Stream is empty).
type AlertRule struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Team       string    `json:"team"`
	Stream     string    `json:"stream"` // "" = every stream of the team
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	Threshold  float64   `json:"threshold"`
	PriceModel string    `json:"price_model,omitempty"` // max_monthly_cost
	Metric     string    `json:"metric,omitempty"`      // critical_signal_lost
	Signal     string    `json:"signal,omitempty"`      // detector_severity
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
}

// AlertRuleInput is the body of POST /api/v1/alert-rules.
type AlertRuleInput struct {
	Name       string  `json:"name"`
	Stream     string  `json:"stream,omitempty"`
	Kind       string  `json:"kind"`
	Severity   string  `json:"severity,omitempty"` // default high
	Threshold  float64 `json:"threshold,omitempty"`
	PriceModel string  `json:"price_model,omitempty"`
	Metric     string  `json:"metric,omitempty"`
	Signal     string  `json:"signal,omitempty"`
}

// Budget is one entry of GET /api/v1/budgets: a max_active_series or
// max_monthly_cost rule with the value it last saw per stream. Budgets are
// rules; there is no second store.
type Budget struct {
	Rule    AlertRule     `json:"rule"`
	Streams []BudgetUsage `json:"streams"`
}

// BudgetUsage is a budget rule's last evaluation on one stream.
type BudgetUsage struct {
	Stream      string    `json:"stream"`
	Value       float64   `json:"value"`
	Used        float64   `json:"used"` // Value / Threshold
	Exceeded    bool      `json:"exceeded"`
	EvaluatedAt time.Time `json:"evaluated_at"`
}

// Silence mutes notifications of the alerts it matches between StartsAt and
// EndsAt; the alerts are still recorded (Alert.SilencedBy). Empty matcher
// fields match anything.
type Silence struct {
	ID        string    `json:"id"`
	Team      string    `json:"team"`
	Stream    string    `json:"stream,omitempty"`
	Rule      string    `json:"rule,omitempty"` // a rule kind or a rule id
	Severity  string    `json:"severity,omitempty"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// SilenceInput is the body of POST /api/v1/silences. StartsAt defaults to
// now; EndsAt or Duration (a Go duration) is required.
type SilenceInput struct {
	Stream   string     `json:"stream,omitempty"`
	Rule     string     `json:"rule,omitempty"`
	Severity string     `json:"severity,omitempty"`
	StartsAt *time.Time `json:"starts_at,omitempty"`
	EndsAt   *time.Time `json:"ends_at,omitempty"`
	Duration string     `json:"duration,omitempty"`
	Comment  string     `json:"comment,omitempty"`
}

// Notification channel types.
const (
	ChannelWebhook   = "webhook"
	ChannelSlack     = "slack"
	ChannelPagerDuty = "pagerduty"
	ChannelTeams     = "teams"
)

// ChannelTypes lists the channel types in a stable order.
var ChannelTypes = []string{ChannelWebhook, ChannelSlack, ChannelPagerDuty, ChannelTeams}

// Channel is one notification channel of /api/v1/channels. Its secret (the
// webhook's HMAC key, PagerDuty's routing key) is stored encrypted and never
// returned: HasSecret says whether one is set. Severities and Streams route:
// empty means every one.
type Channel struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Team         string    `json:"team"`
	Type         string    `json:"type"`
	URL          string    `json:"url"`
	HasSecret    bool      `json:"has_secret"`
	Severities   []string  `json:"severities"`
	Streams      []string  `json:"streams"`
	AllowPrivate bool      `json:"allow_private"` // admins only: the URL may resolve to a private address
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
}

// ChannelInput is the body of POST /api/v1/channels.
type ChannelInput struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	URL          string   `json:"url,omitempty"` // pagerduty: the Events v2 URL, default PagerDutyEventsURL
	Secret       string   `json:"secret,omitempty"`
	Severities   []string `json:"severities,omitempty"`
	Streams      []string `json:"streams,omitempty"`
	AllowPrivate bool     `json:"allow_private,omitempty"`
}

// PagerDutyEventsURL is PagerDuty's Events API v2 endpoint.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// Delivery states of one alert event to one channel.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliverySilenced  = "silenced"
)

// Delivery is the status of one alert event sent to one channel
// (GET /api/v1/alerts/{id}/deliveries).
type Delivery struct {
	AlertID    string    `json:"alert_id"`
	ChannelID  string    `json:"channel_id"`
	Event      string    `json:"event"` // fired, acknowledged, resolved, test
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	HTTPStatus int       `json:"http_status,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Notification is the JSON body a generic webhook channel receives, signed
// with X-Phoenix-Signature: sha256=<hex HMAC-SHA256 of the body>.
type Notification struct {
	Event string `json:"event"` // fired, acknowledged, resolved, test
	Alert Alert  `json:"alert"`
	// Channel is the channel's id, so a receiver serving several can tell.
	Channel string    `json:"channel"`
	SentAt  time.Time `json:"sent_at"`
}
