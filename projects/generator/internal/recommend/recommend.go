// Package recommend ranks cost-cutting rules for a stream from its
// cardinality inventory, the estimates analytics computes from its sketches,
// the price model, and which metrics and labels dashboards and rules use.
// It never suggests dropping a used metric or label.
package recommend

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/usage"
)

// Analytics is what recommendations need from the analytics service
// (over NATS in production).
type Analytics interface {
	Cardinality(ctx context.Context, req apiv1.CardinalityRequest) (*apiv1.CardinalityReport, error)
	Estimate(ctx context.Context, req apiv1.EstimateRequest) (*apiv1.EstimateReply, error)
	Cost(ctx context.Context, req apiv1.CostRequest) (*apiv1.CostReport, error)
}

// Kinds of recommendation (ARCHITECTURE.md).
const (
	KindDropMetric = "drop_metric"
	KindDropLabel  = "drop_label" // reserved: removals are always aggregations (see Recommend)
	KindAggregate  = "aggregate"
	KindTopK       = "topk"
	KindCap        = "cap"
)

// Risk levels.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// Tunables. A label is a candidate when removing it merges at least
// MinShare of some metric's series.
const (
	MinShare      = 0.10
	CapLimit      = 1000
	MaxItems      = 50
	MaxEstimates  = 200 // analytics calls per recommendation request
	DefaultModel  = "self-hosted"
	topkGroupAttr = "host.name"
)

// TopKs are the K values suggested for phoenix_topk.
var TopKs = []int{10, 50}

// EntityKeys identify a process for phoenix_topk.
var EntityKeys = []string{"process.executable.name", "process.pid"}

// Item is one recommendation (the wire type lives in pkg/apiv1, shared with
// the CLI).
type Item = apiv1.Recommendation

// Report is the answer of GET /api/v1/recommendations.
type Report = apiv1.Recommendations

// Input is one recommendation request.
type Input struct {
	Report *apiv1.CardinalityReport
	Usage  *usage.Set // nil: no dashboards or rules given
	Model  string
}

// Recommend builds the report. Analytics errors on single estimates become
// null figures with reasons; only a failed cost baseline is reported per
// item too, never invented.
func Recommend(ctx context.Context, a Analytics, in Input) (*Report, error) {
	rep := in.Report
	model := in.Model
	if model == "" {
		model = DefaultModel
	}
	out := &Report{
		Stream: rep.Stream, Model: model, ActiveSeries: rep.ActiveSeries,
		Items: []Item{}, UnusedMetrics: []string{}, Used: map[string][]string{},
	}
	// Which metrics and labels are used.
	uses := map[string]*usage.MetricUse{}
	if in.Usage != nil {
		out.UsageIssues = in.Usage.Issues
		out.UsageExprs = in.Usage.Exprs
		for _, m := range rep.Metrics {
			u := in.Usage.LookupOTel(m.Name, m.Type)
			if u == nil {
				out.UnusedMetrics = append(out.UnusedMetrics, m.Name)
				continue
			}
			uses[m.Name] = u
			labels := []string{}
			for _, l := range m.Labels {
				if u.Uses(usage.PromLabel(l.Name)) {
					labels = append(labels, l.Name)
				}
			}
			sort.Strings(labels)
			out.Used[m.Name] = labels
		}
		sort.Strings(out.UnusedMetrics)
	} else {
		out.UnusedMetricsUnknownReason = "no dashboards or rules given: usage is unknown, so no metric is suggested for dropping"
	}
	labelUsed := func(metric, label string) bool {
		u := uses[metric]
		return u != nil && u.Uses(usage.PromLabel(label))
	}
	unused := map[string]bool{}
	for _, m := range out.UnusedMetrics {
		unused[m] = true
	}

	est := &estimator{a: a, stream: rep.Stream}
	var items []Item

	// 1. Unused metrics: drop them (exact: all their series go).
	for _, m := range rep.Metrics {
		if !unused[m.Name] {
			continue
		}
		zero := int64(0)
		items = append(items, Item{
			ID: "drop_metric:" + m.Name, Kind: KindDropMetric, Metric: m.Name, Labels: []string{},
			SeriesBefore: m.Series, SeriesAfterEstimate: &zero, Risk: RiskLow,
			Reason:   fmt.Sprintf("%s is not referenced by any of the %d dashboard and rule expressions given", m.Name, out.UsageExprs),
			Strategy: &pipelinegen.Strategy{Type: pipelinegen.DropMetrics, Metrics: []string{m.Name}},
		})
	}

	// 2. Labels that drive cardinality and nobody uses: aggregate them away.
	type labelKey struct{ name, scope string }
	type labelAgg struct {
		metrics  []string
		maxShare float64
		distinct int64
	}
	byLabel := map[labelKey]*labelAgg{}
	var keys []labelKey
	for _, m := range rep.Metrics {
		if unused[m.Name] {
			continue
		}
		for _, l := range m.Labels {
			if l.Share < MinShare || labelUsed(m.Name, l.Name) {
				continue
			}
			k := labelKey{l.Name, l.Scope}
			a := byLabel[k]
			if a == nil {
				a = &labelAgg{}
				byLabel[k] = a
				keys = append(keys, k)
			}
			a.metrics = append(a.metrics, m.Name)
			a.maxShare = math.Max(a.maxShare, l.Share)
			a.distinct = max(a.distinct, l.DistinctValues)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if byLabel[keys[i]].maxShare != byLabel[keys[j]].maxShare {
			return byLabel[keys[i]].maxShare > byLabel[keys[j]].maxShare
		}
		return keys[i].name < keys[j].name
	})
	carriers := func(label string) []string {
		var ms []string
		for _, m := range rep.Metrics {
			if unused[m.Name] {
				continue
			}
			for _, l := range m.Labels {
				if l.Name == label {
					ms = append(ms, m.Name)
				}
			}
		}
		return ms
	}
	for _, k := range keys {
		a := byLabel[k]
		// Always aggregate (sum) rather than delete: deleting a label that
		// tells series apart makes them collide downstream, on the resource
		// and on datapoints alike. Hence no drop_label items.
		kind, strat := KindAggregate, pipelinegen.Strategy{Type: pipelinegen.Aggregate, Labels: []string{k.name}}
		// Stream-wide when every metric carrying the label may lose it;
		// otherwise one item per metric.
		targets := []string{""}
		if !slices.Equal(sortedCopy(a.metrics), sortedCopy(carriers(k.name))) {
			targets = a.metrics
		}
		for _, metric := range targets {
			it := Item{
				ID: kind + ":" + orAll(metric) + ":" + k.name, Kind: kind, Metric: metric, Labels: []string{k.name},
				Risk: RiskLow, Strategy: &strat,
			}
			it.Reason = fmt.Sprintf("%s (%s attribute, up to %d values) accounts for up to %.0f%% of the series of %s",
				k.name, k.scope, a.distinct, a.maxShare*100, describeMetrics(metric, a.metrics))
			if metric != "" {
				// phoenix_aggregate applies to every metric: no ready-made
				// strategy for one metric alone.
				it.Strategy = nil
				it.Reason += " (other metrics use it, so apply this to " + metric + " only)"
			}
			if in.Usage == nil {
				it.Risk = RiskMedium
				it.Reason += "; usage unknown (no dashboards or rules given)"
			} else {
				it.Reason += "; no dashboard or rule uses it"
			}
			est.fill(ctx, &it, apiv1.EstimateRequest{Stream: rep.Stream, Metric: metric, DropLabels: []string{k.name}})
			items = append(items, it)
		}
	}

	// Identity labels often come in groups that each determine the entity
	// (a pid and its command line): removing one merges nothing, removing
	// all of them does. Estimate the unused high-cardinality ones together.
	if group := identityGroup(rep, unused, labelUsed); len(group) >= 2 {
		strat := pipelinegen.Strategy{Type: pipelinegen.Aggregate, Labels: group}
		it := Item{
			ID: KindAggregate + ":*:" + strings.Join(group, "+"), Kind: KindAggregate, Labels: group, Risk: RiskLow, Strategy: &strat,
			Reason: fmt.Sprintf("%s identify single processes (each alone merges nothing because the others still tell processes apart); aggregating them together sums per executable", strings.Join(group, ", ")),
		}
		if in.Usage == nil {
			it.Risk = RiskMedium
			it.Reason += "; usage unknown (no dashboards or rules given)"
		} else {
			it.Reason += "; no dashboard or rule uses them"
		}
		est.fill(ctx, &it, apiv1.EstimateRequest{Stream: rep.Stream, DropLabels: group})
		items = append(items, it)
	}

	// 3. Top K processes per host, when the stream carries process identities.
	if hasLabels(rep, EntityKeys...) {
		groupBy := []string{}
		if hasLabels(rep, topkGroupAttr) {
			groupBy = []string{topkGroupAttr}
		}
		risk, why := RiskMedium, "processes outside the top K lose their own series; their sum survives in _other_"
		for _, m := range rep.Metrics {
			if labelUsed(m.Name, "process.pid") {
				risk, why = RiskHigh, fmt.Sprintf("%s is queried by process.pid, which top-K rolls up into _other_", m.Name)
				break
			}
		}
		for _, k := range TopKs {
			strat := pipelinegen.Strategy{
				Type: pipelinegen.TopK, K: k, GroupBy: groupBy, EntityKeys: slices.Clone(EntityKeys),
				RankMetric: pipelinegen.DefaultRankMetric, Critical: []string{pipelinegen.DefaultCritical},
			}
			it := Item{
				ID: fmt.Sprintf("topk:*:k=%d", k), Kind: KindTopK, Labels: slices.Clone(EntityKeys), Risk: risk,
				Reason:   fmt.Sprintf("keep the top %d processes per %s plus critical ones (%s); %s", k, orDefault(topkGroupAttr, groupBy), pipelinegen.DefaultCritical, why),
				Strategy: &strat,
			}
			// phoenix_topk's `_other_` keeps only group_by and the entity
			// keys; dropping the other resource attributes everywhere leaves
			// kept entities distinct (their keys identify them) and merges
			// folded ones, as the processor does.
			est.fill(ctx, &it, apiv1.EstimateRequest{Stream: rep.Stream, DropLabels: foldedAway(rep, groupBy), TopK: &apiv1.TopKEstimate{
				EntityKeys: EntityKeys, GroupBy: groupBy, K: k, Critical: pipelinegen.DefaultCritical,
				// Analytics replays the processor's ranking by this metric's
				// rate per window, as the strategy would configure it.
				RankMetric: strat.RankMetric, Window: orDefaultString(strat.Window, pipelinegen.DefaultTopKWindow),
				Hysteresis: strat.Hysteresis,
			}})
			items = append(items, it)
		}
	}

	// 4. A cap per metric when some metric is past it.
	var over []string
	for _, m := range rep.Metrics {
		if m.Series > CapLimit && !unused[m.Name] {
			over = append(over, m.Name)
		}
	}
	if len(over) > 0 {
		strat := pipelinegen.Strategy{Type: pipelinegen.CardinalityCap, Limit: CapLimit, Action: "fold", NeverDrop: []string{topkGroupAttr, "process.executable.name"}}
		it := Item{
			ID: fmt.Sprintf("cap:*:%d", CapLimit), Kind: KindCap, Labels: []string{}, Risk: RiskHigh, Strategy: &strat,
			Reason: fmt.Sprintf("cap every metric at %d series (beyond it, series fold into one overflow series); over the cap now: %s",
				CapLimit, strings.Join(limitList(over, 5), ", ")),
		}
		est.fill(ctx, &it, apiv1.EstimateRequest{Stream: rep.Stream, CapPerMetric: CapLimit})
		items = append(items, it)
	}

	// Savings under the price model, from analytics' catalog.
	pricer := &pricer{a: a, model: model, rep: rep}
	for i := range items {
		items[i].Model = model
		pricer.fill(ctx, &items[i])
	}
	sort.SliceStable(items, func(i, j int) bool { return less(items[i], items[j]) })
	if len(items) > MaxItems {
		items = items[:MaxItems]
	}
	out.Items = items
	return out, nil
}

// less orders by saving, then series removed, then id.
func less(a, b Item) bool {
	sa, sb := a.MonthlySavingEstimate, b.MonthlySavingEstimate
	if (sa == nil) != (sb == nil) {
		return sa != nil
	}
	if sa != nil && *sa != *sb {
		return *sa > *sb
	}
	ra, rb := reduction(a), reduction(b)
	if ra != rb {
		return ra > rb
	}
	return a.ID < b.ID
}

func reduction(it Item) int64 {
	if it.SeriesAfterEstimate == nil {
		return -1
	}
	return it.SeriesBefore - *it.SeriesAfterEstimate
}

// estimator asks analytics, within a budget of calls.
type estimator struct {
	a      Analytics
	stream string
	calls  int
}

func (e *estimator) fill(ctx context.Context, it *Item, req apiv1.EstimateRequest) {
	if e.calls >= MaxEstimates {
		it.SeriesAfterUnknownReason = fmt.Sprintf("estimate budget of %d analytics calls spent", MaxEstimates)
		return
	}
	e.calls++
	rep, err := e.a.Estimate(ctx, req)
	if err != nil {
		it.SeriesAfterUnknownReason = "analytics estimate failed: " + err.Error()
		return
	}
	it.SeriesBefore = rep.SeriesBefore
	after := rep.SeriesAfter
	it.SeriesAfterEstimate = &after
	it.ErrorBound = rep.ErrorBound
}

// pricer turns a series reduction into a monthly saving: the stream's cost
// with its live figures minus its cost with the item's series removed.
// Datapoints and bytes are scaled with series (each series keeps its rate),
// which is what a label or entity reduction does.
type pricer struct {
	a         Analytics
	model     string
	rep       *apiv1.CardinalityReport
	base      *float64
	baseErr   string
	baseTried bool
}

func (p *pricer) cost(ctx context.Context, series float64) (*float64, string) {
	req := apiv1.CostRequest{Model: p.model, ActiveSeries: &series}
	if total := float64(p.rep.ActiveSeries); total > 0 {
		if p.rep.DPPerS != nil {
			v := *p.rep.DPPerS * series / total
			req.DPPerS = &v
		}
		if p.rep.BytesPerS != nil {
			v := *p.rep.BytesPerS * series / total
			req.BytesPerS = &v
		}
	}
	c, err := p.a.Cost(ctx, req)
	if err != nil {
		return nil, "analytics cost failed: " + err.Error()
	}
	for _, m := range c.Models {
		if m.Model == p.model {
			if m.MonthlyCost == nil {
				return nil, "price model " + p.model + ": " + m.MonthlyCostUnknownReason
			}
			return m.MonthlyCost, ""
		}
	}
	return nil, "price model " + p.model + " is not in the catalog"
}

func (p *pricer) fill(ctx context.Context, it *Item) {
	if it.SeriesAfterEstimate == nil {
		it.MonthlySavingUnknownReason = "no series estimate"
		return
	}
	if !p.baseTried {
		p.baseTried = true
		p.base, p.baseErr = p.cost(ctx, float64(p.rep.ActiveSeries))
	}
	if p.base == nil {
		it.MonthlySavingUnknownReason = p.baseErr
		return
	}
	removed := it.SeriesBefore - *it.SeriesAfterEstimate
	after, why := p.cost(ctx, math.Max(0, float64(p.rep.ActiveSeries-removed)))
	if after == nil {
		it.MonthlySavingUnknownReason = why
		return
	}
	saving := math.Round((*p.base-*after)*100) / 100
	it.MonthlySavingEstimate = &saving
}

// identityGroup lists the unused resource labels that identify single
// entities: the known per-process identity labels, and any label whose
// distinct values reach half of its metric's series.
func identityGroup(rep *apiv1.CardinalityReport, unused map[string]bool, used func(metric, label string) bool) []string {
	known := strings.Split(pipelinegen.DefaultIdentityLabels, ",")
	inGroup := map[string]bool{}
	blocked := map[string]bool{}
	for _, m := range rep.Metrics {
		if unused[m.Name] {
			continue
		}
		for _, l := range m.Labels {
			if used(m.Name, l.Name) {
				blocked[l.Name] = true
				continue
			}
			if l.Scope != apiv1.ScopeResource {
				continue
			}
			if slices.Contains(known, l.Name) || (m.Series > 0 && float64(l.DistinctValues) >= 0.5*float64(m.Series)) {
				inGroup[l.Name] = true
			}
		}
	}
	var out []string
	for l := range inGroup {
		if !blocked[l] {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// foldedAway lists the resource attributes a rolled-up entity loses.
func foldedAway(rep *apiv1.CardinalityReport, groupBy []string) []string {
	keep := map[string]bool{apiv1.AttrExperimentID: true, apiv1.AttrVariant: true}
	for _, k := range append(slices.Clone(groupBy), EntityKeys...) {
		keep[k] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range rep.Metrics {
		for _, l := range m.Labels {
			if l.Scope == apiv1.ScopeResource && !keep[l.Name] && !seen[l.Name] {
				seen[l.Name] = true
				out = append(out, l.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func hasLabels(rep *apiv1.CardinalityReport, names ...string) bool {
	for _, n := range names {
		found := false
		for _, m := range rep.Metrics {
			for _, l := range m.Labels {
				if l.Name == n {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

func orAll(metric string) string {
	if metric == "" {
		return "*"
	}
	return metric
}

func orDefault(def string, group []string) string {
	if len(group) == 0 {
		return "stream"
	}
	return def
}

func describeMetrics(metric string, all []string) string {
	if metric != "" {
		return metric
	}
	return fmt.Sprintf("%d metrics (%s)", len(all), strings.Join(limitList(all, 3), ", "))
}

func limitList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}

func orDefaultString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
