package apiv1

import "github.com/phoenix-platform/phoenix/pkg/pipelinegen"

// Recommendation is one item of GET /api/v1/recommendations: a cut the
// generator proposes for a stream, with its estimated effect.
type Recommendation struct {
	ID                         string                `json:"id"`
	Kind                       string                `json:"kind"`
	Metric                     string                `json:"metric"` // "" = every metric of the stream
	Labels                     []string              `json:"labels"`
	SeriesBefore               int64                 `json:"series_before"`
	SeriesAfterEstimate        *int64                `json:"series_after_estimate"`
	SeriesAfterUnknownReason   string                `json:"series_after_estimate_unknown_reason,omitempty"`
	ErrorBound                 float64               `json:"error_bound"`
	MonthlySavingEstimate      *float64              `json:"monthly_saving_estimate"`
	MonthlySavingUnknownReason string                `json:"monthly_saving_estimate_unknown_reason,omitempty"`
	Model                      string                `json:"model"`
	Risk                       string                `json:"risk"`
	Reason                     string                `json:"reason"`
	Strategy                   *pipelinegen.Strategy `json:"strategy,omitempty"` // how to apply it
}

// UsageIssue is a dashboard or rule expression the generator could not
// read when it derived which metrics and labels are used.
type UsageIssue struct {
	Source  string `json:"source"` // file and panel/rule
	Expr    string `json:"expr"`
	Message string `json:"message"`
}

// Recommendations is the answer of GET and POST /api/v1/recommendations.
type Recommendations struct {
	Stream                     string              `json:"stream"`
	Model                      string              `json:"model"`
	ActiveSeries               int64               `json:"active_series"`
	Items                      []Recommendation    `json:"items"`
	UnusedMetrics              []string            `json:"unused_metrics"`
	UnusedMetricsUnknownReason string              `json:"unused_metrics_unknown_reason,omitempty"`
	Used                       map[string][]string `json:"used"`
	UsageIssues                []UsageIssue        `json:"usage_issues,omitempty"`
	UsageExprs                 int                 `json:"usage_exprs"`
}
