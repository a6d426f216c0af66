package apiv1

import "time"

// Analytics subjects for other services (plain JSON request and reply). The
// REST operations (GET /api/v1/streams, ...) are answered on
// Subject("analytics", operationId) with the same handler logic, so a NATS
// answer equals the REST answer.
const (
	// SubjectAnalyticsCardinality: request CardinalityRequest, reply CardinalityReport.
	SubjectAnalyticsCardinality = "phoenix.analytics.cardinality"
	// SubjectAnalyticsEstimate: request EstimateRequest, reply EstimateReply.
	SubjectAnalyticsEstimate = "phoenix.analytics.estimate"
	// SubjectAnalyticsCost: request CostRequest, reply CostReport.
	SubjectAnalyticsCost = "phoenix.analytics.cost"
	// SubjectAnalyticsCompare: request CompareRequest, reply CompareReport.
	SubjectAnalyticsCompare = "phoenix.analytics.compare"
	// SubjectAnalyticsStreams: request StreamsRequest, reply List[StreamSummary].
	SubjectAnalyticsStreams = "phoenix.analytics.streams"
)

// DefaultStream receives metrics that name no stream.
const DefaultStream = "default"

// Resource attributes that route OTLP data to an experiment variant's stream
// `<experiment-id>--<variant>`. They are not part of a series' identity.
const (
	AttrExperimentID = "phoenix.experiment.id"
	AttrVariant      = "phoenix.variant"
	HeaderStream     = "X-Phoenix-Stream"
)

// VariantStream names the stream of an experiment variant.
func VariantStream(experimentID, variant string) string { return experimentID + "--" + variant }

// Label scopes.
const (
	ScopeResource  = "resource"
	ScopeDatapoint = "datapoint"
)

// StreamsRequest lists streams visible to Principal: those owned by one of
// its teams (admins see all). The NATS caller sets Principal itself.
type StreamsRequest struct {
	Principal Principal `json:"principal"`
}

// StreamSummary is one item of GET /api/v1/streams.
type StreamSummary struct {
	Stream       string    `json:"stream"`
	Team         string    `json:"team"`
	ActiveSeries int64     `json:"active_series"`
	Exact        bool      `json:"exact"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
}

// CardinalityRequest asks for a stream's live breakdown. Service-to-service
// calls are trusted (no principal check). TopValues bounds top_values per
// label (0 = default 10).
type CardinalityRequest struct {
	Stream    string `json:"stream"`
	TopValues int    `json:"top_values,omitempty"`
}

// CardinalityReport is the answer of GET /api/v1/streams/{stream}/cardinality
// and phoenix.analytics.cardinality. Counts cover series active within the
// staleness window. When Exact is false, ActiveSeries is a sketch estimate
// with relative standard error ErrorBound (e.g. 0.008 = 0.8%); per-metric
// and per-label figures then cover the exactly tracked series only
// (TrackedSeries of them).
type CardinalityReport struct {
	Stream                 string              `json:"stream"`
	Team                   string              `json:"team"`
	Time                   time.Time           `json:"time"`
	StalenessWindowSeconds float64             `json:"staleness_window_seconds"`
	ActiveSeries           int64               `json:"active_series"`
	Exact                  bool                `json:"exact"`
	ErrorBound             float64             `json:"error_bound"`
	TrackedSeries          int64               `json:"tracked_series"` // series held exactly
	DPPerS                 *float64            `json:"dp_per_s"`
	DPPerSUnknownReason    string              `json:"dp_per_s_unknown_reason,omitempty"`
	BytesPerS              *float64            `json:"bytes_per_s"`
	BytesPerSUnknownReason string              `json:"bytes_per_s_unknown_reason,omitempty"`
	NewSeriesPerMin        *float64            `json:"new_series_per_min"`
	NewSeriesUnknownReason string              `json:"new_series_per_min_unknown_reason,omitempty"`
	Metrics                []MetricCardinality `json:"metrics"`
	Refused                map[string]int64    `json:"refused,omitempty"` // counts of things not tracked, by reason
	// Truncated marks a reply cut to fit the message bus: Metrics lists the
	// ones with the most series, TruncatedReason says what was left out.
	Truncated       bool   `json:"truncated,omitempty"`
	TruncatedReason string `json:"truncated_reason,omitempty"`
}

// MetricCardinality is one metric's part of a stream.
type MetricCardinality struct {
	Name                string             `json:"name"`
	Type                string             `json:"type"` // gauge, sum, histogram, exponential_histogram, summary
	Series              int64              `json:"series"`
	DPPerS              *float64           `json:"dp_per_s"`
	DPPerSUnknownReason string             `json:"dp_per_s_unknown_reason,omitempty"`
	Labels              []LabelCardinality `json:"labels"`
	// TypeInferred: Type was derived from the name's suffix (remote write
	// without metadata), not sent by the client.
	TypeInferred bool `json:"type_inferred,omitempty"`
}

// LabelCardinality says how much one label (resource or datapoint attribute)
// drives a metric's cardinality. Share = 1 - series(metric without the
// label) / series(metric): 0 means removing it merges nothing.
type LabelCardinality struct {
	Name           string       `json:"name"`
	Scope          string       `json:"scope"` // resource or datapoint
	DistinctValues int64        `json:"distinct_values"`
	Share          float64      `json:"share"`
	TopValues      []ValueCount `json:"top_values"`
}

// ValueCount is a label value and the series that carry it.
type ValueCount struct {
	Value  string `json:"value"`
	Series int64  `json:"series"`
}

// EstimateRequest asks what a stream's series count would be after a
// reduction rule. Metric "" applies the rule to every metric. DropLabels
// removes labels (resource or datapoint) by name. TopK keeps the entities
// (distinct EntityKeys values within each GroupBy group) phoenix_topk would
// keep at some moment of the staleness window (ranked by RankMetric's rate,
// replayed over analytics' rank history) plus those matching Critical,
// folding the rest into one `_other_` entity. CapPerMetric > 0 caps each metric's series (a cardinality limit).
// Rules apply in that order: drop, topk, cap.
type EstimateRequest struct {
	Stream       string        `json:"stream"`
	Metric       string        `json:"metric"`
	DropLabels   []string      `json:"drop_labels"`
	TopK         *TopKEstimate `json:"topk"`
	CapPerMetric int64         `json:"cap_per_metric"`
}

// TopKEstimate mirrors the phoenix_topk processor's keys. RankMetric,
// Window and Hysteresis are optional ("" = the processor's defaults
// process.cpu.time, 60s and 30s): analytics replays the processor's
// ranking over its recorded history of RankMetric (see EstimateReply).
type TopKEstimate struct {
	EntityKeys []string `json:"entity_keys"`
	GroupBy    []string `json:"group_by"`
	K          int      `json:"k"`
	Critical   string   `json:"critical"` // fully anchored regex over entity key values, "" = none
	RankMetric string   `json:"rank_metric,omitempty"`
	Window     string   `json:"window,omitempty"`     // Go duration
	Hysteresis string   `json:"hysteresis,omitempty"` // Go duration
}

// Top-K estimate bases (EstimateReply.TopKBasis).
const (
	// TopKBasisHistory: kept = every entity the processor's ranking
	// (by RankMetric rate, per window, with hysteresis) keeps at some
	// sample of the recorded history.
	TopKBasisHistory = "rank_history"
	// TopKBasisSnapshot: not enough history (fewer than two samples of
	// RankMetric): kept = the top K of the current snapshot ranked by
	// RankMetric's current value (series count without it). Exact is false.
	TopKBasisSnapshot = "snapshot"
)

// EstimateReply: SeriesBefore/After cover the affected metrics (all when
// Metric is ""). ErrorBound is the relative standard error (0 when exact).
type EstimateReply struct {
	Stream       string  `json:"stream"`
	Metric       string  `json:"metric"`
	SeriesBefore int64   `json:"series_before"`
	SeriesAfter  int64   `json:"series_after"`
	Exact        bool    `json:"exact"`
	ErrorBound   float64 `json:"error_bound"`
	// Top-K only: how kept entities were chosen (TopKBasis*), the span of
	// rank history used, and why the estimate is approximate, if it is.
	TopKBasis          string  `json:"topk_basis,omitempty"`
	TopKHistorySeconds float64 `json:"topk_history_seconds,omitempty"`
	InexactReason      string  `json:"inexact_reason,omitempty"`
}

// CostRequest prices a stream's live figures, or explicit figures when
// Stream is "". Model "" prices every model in the catalog.
type CostRequest struct {
	Stream       string   `json:"stream,omitempty"`
	Model        string   `json:"model,omitempty"`
	ActiveSeries *float64 `json:"active_series,omitempty"`
	DPPerS       *float64 `json:"dp_per_s,omitempty"`
	BytesPerS    *float64 `json:"bytes_per_s,omitempty"`
	// By, with Stream, splits the cost by this label's values (showback);
	// Top bounds the values listed one by one (default 20, at most 500).
	By  string `json:"by,omitempty"`
	Top int    `json:"top,omitempty"`
}

// CostReport is the answer of GET /api/v1/cost and phoenix.analytics.cost.
type CostReport struct {
	Stream       string      `json:"stream,omitempty"`
	ActiveSeries *float64    `json:"active_series"`
	DPPerS       *float64    `json:"dp_per_s"`
	BytesPerS    *float64    `json:"bytes_per_s"`
	Catalog      CatalogInfo `json:"catalog"`
	Models       []ModelCost `json:"models"`
	// Showback is the split by one label's values (GET /api/v1/cost?by=).
	Showback *Showback `json:"showback,omitempty"`
}

// Showback group kinds: a label value, the values past the top bound folded
// together, the series that do not carry the label, and the series past the
// stream's exact bound whose labels are unknown.
const (
	GroupValue        = "value"
	GroupOther        = "other"
	GroupUnset        = "unset"
	GroupUnattributed = "unattributed"
)

// Showback is a stream's cost split by the values of one label. Groups add
// up to the stream: series, datapoints, bytes and every model's cost.
type Showback struct {
	Label string `json:"label"`
	// Series counted are those active in [WindowFrom, WindowTo] (the
	// staleness window); rates are over the last minute; costs are monthly
	// projections of both, as in the stream's figures.
	WindowFrom time.Time `json:"window_from"`
	WindowTo   time.Time `json:"window_to"`
	// Exact is true when every active series' value is known; else
	// EstimatedReason says why not and ErrorBound is the relative standard
	// error of the stream's series count.
	Exact           bool    `json:"exact"`
	EstimatedReason string  `json:"estimated_reason,omitempty"`
	ErrorBound      float64 `json:"error_bound"`
	DistinctValues  int64   `json:"distinct_values"`
	Top             int     `json:"top"`
	// DPSplitBasis says how datapoints and bytes were apportioned to values.
	DPSplitBasis string      `json:"dp_split_basis"`
	Groups       []CostGroup `json:"groups"`
}

// CostGroup is one row of a showback.
type CostGroup struct {
	Value                  string      `json:"value"`
	Kind                   string      `json:"kind"`   // Group*
	Values                 int64       `json:"values"` // label values in the group (several for "other")
	Series                 int64       `json:"series"`
	Share                  float64     `json:"share"` // of the stream's active series
	DPPerS                 *float64    `json:"dp_per_s"`
	DPPerSUnknownReason    string      `json:"dp_per_s_unknown_reason,omitempty"`
	BytesPerS              *float64    `json:"bytes_per_s"`
	BytesPerSUnknownReason string      `json:"bytes_per_s_unknown_reason,omitempty"`
	Models                 []ModelCost `json:"models"`
}

// CatalogInfo says where prices come from.
type CatalogInfo struct {
	Source   string `json:"source"`
	Date     string `json:"date"`
	Currency string `json:"currency"`
}

// ModelCost is the projected monthly cost under one price model.
type ModelCost struct {
	Model                    string   `json:"model"`
	Unit                     string   `json:"unit"`
	Source                   string   `json:"source"`
	MonthlyCost              *float64 `json:"monthly_cost"`
	MonthlyCostUnknownReason string   `json:"monthly_cost_unknown_reason,omitempty"`
}

// CompareRequest compares a candidate stream to its baseline over
// [From, To] (zero times = the live window). Critical holds label matchers
// in PromQL form (`process.executable.name=~"nginx|postgres"`); Aggregates
// holds PromQL aggregations (`sum({"process.cpu.time"}) by ("host.name")`).
type CompareRequest struct {
	Baseline   string    `json:"baseline"`
	Candidate  string    `json:"candidate"`
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to,omitzero"`
	Critical   []string  `json:"critical,omitempty"`
	Aggregates []string  `json:"aggregates,omitempty"`
	Model      string    `json:"model,omitempty"` // price model for cost_reduction ("" = self-hosted)
	// Queries are PromQL queries (as dashboards and rule files write them)
	// scored per window on both streams; see QueryResult.
	Queries []string `json:"queries,omitempty"`
}

// CompareReport answers GET /api/v1/compare and phoenix.analytics.compare.
// Reductions are 1 - candidate/baseline (0.6 = 60% fewer). Any figure that
// cannot be measured (e.g. no baseline data) is null with a reason.
type CompareReport struct {
	Baseline                       string            `json:"baseline"`
	Candidate                      string            `json:"candidate"`
	From                           time.Time         `json:"from"`
	To                             time.Time         `json:"to"`
	SeriesReduction                *float64          `json:"series_reduction"`
	SeriesReductionUnknownReason   string            `json:"series_reduction_unknown_reason,omitempty"`
	DPReduction                    *float64          `json:"dp_reduction"`
	DPReductionUnknownReason       string            `json:"dp_reduction_unknown_reason,omitempty"`
	BytesReduction                 *float64          `json:"bytes_reduction"`
	BytesReductionUnknownReason    string            `json:"bytes_reduction_unknown_reason,omitempty"`
	CostReduction                  *float64          `json:"cost_reduction"`
	CostReductionUnknownReason     string            `json:"cost_reduction_unknown_reason,omitempty"`
	Model                          string            `json:"model"`
	CriticalRetention              *float64          `json:"critical_retention"`
	CriticalRetentionUnknownReason string            `json:"critical_retention_unknown_reason,omitempty"`
	Critical                       []CriticalResult  `json:"critical"`
	Aggregates                     []AggregateResult `json:"aggregates"`
	// Queries answer CompareRequest.Queries, worst first (not evaluated
	// last); omitted when none were asked.
	Queries []QueryResult `json:"queries,omitempty"`
}

// QueryResult is one query's fidelity: evaluated on both streams at every
// rollup tick in [From, To], each window's error is the max over the
// baseline's result series of |candidate - baseline| / |baseline| (a series
// missing from the candidate counts 1). Evaluated is false, with
// NotEvaluatedReason, for a query outside the supported PromQL subset or
// one no window could score; it never passes.
type QueryResult struct {
	Expr               string   `json:"expr"`
	Evaluated          bool     `json:"evaluated"`
	NotEvaluatedReason string   `json:"not_evaluated_reason,omitempty"`
	Windows            int      `json:"windows"`
	Series             int      `json:"series"` // baseline result series (the most over the windows)
	MaxRelError        *float64 `json:"max_rel_error"`
	MeanRelError       *float64 `json:"mean_rel_error"`
	// Worst is the baseline result series with the largest error, its
	// labels rendered `k=v,...`.
	Worst string `json:"worst_series,omitempty"`
}

// CriticalResult: entities (distinct label sets matched by the matcher)
// seen in the baseline and how many remain distinguishable in the candidate.
type CriticalResult struct {
	Matcher  string   `json:"matcher"`
	Baseline int64    `json:"baseline_entities"`
	Retained int64    `json:"retained_entities"`
	Missing  []string `json:"missing,omitempty"` // up to 20 examples
}

// AggregateResult is the relative error of one declared aggregate: per
// group |candidate - baseline| / |baseline| (a group missing from the
// candidate counts 1). With Basis "windows" it is computed per window in
// [From, To] where both streams have values (Windows, oldest first), and
// MaxRelError / MeanRelError are the max of the windows' max and the mean
// of their means; with Basis "latest" no window had values of both streams
// (BasisReason says why) and it is computed once over the streams' latest
// values; with Basis "none" it is unknown (UnknownReason).
type AggregateResult struct {
	Expr          string            `json:"expr"`
	Basis         string            `json:"basis"`
	BasisReason   string            `json:"basis_reason,omitempty"`
	Groups        int               `json:"groups"` // baseline groups (the most over the windows)
	MaxRelError   *float64          `json:"max_rel_error"`
	MeanRelError  *float64          `json:"mean_rel_error"`
	UnknownReason string            `json:"max_rel_error_unknown_reason,omitempty"`
	Windows       []AggregateWindow `json:"windows,omitempty"`
}

// AggregateResult.Basis values.
const (
	BasisWindows = "windows"
	BasisLatest  = "latest"
	BasisNone    = "none"
)

// AggregateWindow is one window's aggregate error: the aggregate as of End
// (a rollup tick; Start is the previous tick, or when watching began) on
// both streams, over Groups baseline groups.
type AggregateWindow struct {
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Groups       int       `json:"groups"`
	MaxRelError  float64   `json:"max_rel_error"`
	MeanRelError float64   `json:"mean_rel_error"`
}

// Rollup is one 10 s (or downsampled) summary of a stream, stored and
// published as the data of a `rollup` event on phoenix.events.rollup.<stream>.
// HLL is a mergeable HyperLogLog sketch of the series seen in the interval
// (base64 in JSON), so replicas' rollups can be merged.
type Rollup struct {
	Stream       string           `json:"stream"`
	Start        time.Time        `json:"start"`
	End          time.Time        `json:"end"`
	ActiveSeries int64            `json:"active_series"`
	Exact        bool             `json:"exact"`
	Datapoints   int64            `json:"datapoints"`
	Bytes        int64            `json:"bytes"`
	NewSeries    int64            `json:"new_series"`
	MetricSeries map[string]int64 `json:"metric_series"`
	HLL          []byte           `json:"hll,omitempty"`
}

// Forecast methods and budget statuses (GET /api/v1/forecast).
const (
	ForecastHoltDamped = "holt_damped"

	BudgetOver     = "over"      // the latest measured value is past the budget
	BudgetCrosses  = "crosses"   // the point forecast crosses it within the horizon
	BudgetMayCross = "may_cross" // only the interval's upper bound crosses it
	BudgetWithin   = "within"    // the upper bound stays below it
	BudgetUnknown  = "unknown"

	BudgetKindSeries      = "series"
	BudgetKindMonthlyCost = "monthly_cost"
)

// ForecastRequest asks for a stream's projection Horizon ahead. Budgets
// (nil = none) ask when the projection crosses them; a cost budget is
// priced under Model ("" = self-hosted), which also limits the cost
// projections to one model when set.
type ForecastRequest struct {
	Stream            string        `json:"stream"`
	Horizon           time.Duration `json:"horizon"`
	Model             string        `json:"model,omitempty"`
	BudgetSeries      *float64      `json:"budget_series,omitempty"`
	BudgetMonthlyCost *float64      `json:"budget_monthly_cost,omitempty"`
}

// ForecastReport is the answer of GET /api/v1/forecast. A projection that
// cannot be made (too little history) is null with its _unknown_reason.
type ForecastReport struct {
	Stream         string          `json:"stream"`
	GeneratedAt    time.Time       `json:"generated_at"`
	HorizonSeconds float64         `json:"horizon_seconds"`
	At             time.Time       `json:"at"` // the end of the last history step plus the horizon
	Method         string          `json:"method"`
	IntervalLevel  float64         `json:"interval_level"`
	History        ForecastHistory `json:"history"`
	Params         *ForecastParams `json:"params"`
	// ActiveSeries is the projection at At; Path samples it over the horizon.
	ActiveSeries              *ForecastValue   `json:"active_series"`
	ActiveSeriesUnknownReason string           `json:"active_series_unknown_reason,omitempty"`
	Path                      []ForecastPoint  `json:"path"`
	MonthlyCost               []ForecastCost   `json:"monthly_cost"`
	Budgets                   []BudgetForecast `json:"budgets"`
}

// ForecastHistory is the rollup history a forecast was fitted on: Points
// steps of StepSeconds each, FilledPoints of them interpolated because no
// rollup covered them.
type ForecastHistory struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	StepSeconds  float64   `json:"step_seconds"`
	Points       int       `json:"points"`
	FilledPoints int       `json:"filled_points"`
}

// ForecastParams are the fitted smoothing parameters of the active series.
type ForecastParams struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	Phi   float64 `json:"phi"`
	Sigma float64 `json:"sigma"`
}

// ForecastValue is a measured value and its projection with the interval.
type ForecastValue struct {
	Current float64 `json:"current"`
	Point   float64 `json:"point"`
	Lower   float64 `json:"lower"`
	Upper   float64 `json:"upper"`
}

// ForecastPoint is one sample of the projected path.
type ForecastPoint struct {
	Time         time.Time `json:"time"`
	ActiveSeries float64   `json:"active_series"`
	Lower        float64   `json:"lower"`
	Upper        float64   `json:"upper"`
}

// ForecastCost is one price model's monthly cost now and at the horizon.
type ForecastCost struct {
	Model                    string   `json:"model"`
	Unit                     string   `json:"unit"`
	Current                  *float64 `json:"current"`
	MonthlyCost              *float64 `json:"monthly_cost"`
	Lower                    *float64 `json:"lower"`
	Upper                    *float64 `json:"upper"`
	MonthlyCostUnknownReason string   `json:"monthly_cost_unknown_reason,omitempty"`
}

// BudgetForecast says when a stream is projected to cross a budget.
type BudgetForecast struct {
	Kind   string  `json:"kind"` // BudgetKind*
	Limit  float64 `json:"limit"`
	Model  string  `json:"model,omitempty"` // the price model of a cost budget
	Status string  `json:"status"`          // Budget*
	// CrossesAt is when the point forecast first reaches the limit;
	// EarliestAt when the interval's upper bound first does.
	CrossesAt     *time.Time `json:"crosses_at"`
	EarliestAt    *time.Time `json:"earliest_at"`
	UnknownReason string     `json:"unknown_reason,omitempty"`
}

// SubjectAnalyticsReserveStreams: request StreamReservation, reply
// StreamReservationReply. The controller reserves an experiment's variant
// streams before it deploys (ADR 0016): afterwards only the listed agents'
// credentials may write into them. Internal (no REST operation).
const SubjectAnalyticsReserveStreams = "phoenix.analytics.reserve_streams"

// HeaderAgent names the agent (its fleet id, the OpAMP instance uid) whose
// collector sends an ingest request; it counts only with a credential that
// holds the agent scope. gRPC metadata: x-phoenix-agent.
const HeaderAgent = "X-Phoenix-Agent"

// StreamReservation reserves variant streams for Team: the streams are
// created owned by Team, and only a caller with the agent scope in Team
// naming one of Agents (HeaderAgent) may write into them, until Until. A
// repeated reservation replaces the agents and the expiry.
type StreamReservation struct {
	Experiment string    `json:"experiment"`
	Team       string    `json:"team"`
	Streams    []string  `json:"streams"`
	Agents     []string  `json:"agents"`
	Until      time.Time `json:"until"`
}

// StreamReservationReply lists the streams reserved.
type StreamReservationReply struct {
	Streams []string `json:"streams"`
}

// SubjectAnalyticsEntities: request EntitiesRequest, reply EntitiesReply.
// It lists which entities a stream received at or after a time: the
// controller's checks that a rollout step keeps every critical entity and
// that every agent of an experiment delivered data on every variant.
const SubjectAnalyticsEntities = "phoenix.analytics.entities"

// Bounds of an entities request.
const (
	MaxEntityMatchers = 50
	MaxEntityKeys     = 8
	MaxEntitiesListed = 1000
)

// EntitiesRequest names a stream, label matchers in the form of the
// experiment spec's critical (`process.executable.name=~"nginx|postgres"`),
// and the labels an entity is identified by (Keys; e.g. host.name and
// process.executable.name). Only series seen after Since count (in a
// later whole second).
type EntitiesRequest struct {
	Stream   string    `json:"stream"`
	Matchers []string  `json:"matchers"`
	Keys     []string  `json:"keys"`
	Since    time.Time `json:"since,omitzero"`
}

// EntitiesReply has one result per matcher, in request order.
type EntitiesReply struct {
	Stream  string          `json:"stream"`
	Since   time.Time       `json:"since,omitzero"`
	Results []EntitiesMatch `json:"results"`
}

// EntitiesMatch: the distinct values of the request's Keys (joined
// `k=v,k=v`, sorted) among the series matching Matcher; Count is exact,
// Entities lists at most MaxEntitiesListed of them (Truncated then).
type EntitiesMatch struct {
	Matcher   string   `json:"matcher"`
	Count     int      `json:"count"`
	Entities  []string `json:"entities"`
	Truncated bool     `json:"truncated,omitempty"`
}
