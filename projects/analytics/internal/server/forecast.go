package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/forecast"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cost"
)

// Forecast bounds and defaults.
const (
	defaultHorizon  = 30 * 24 * time.Hour
	minHorizon      = time.Minute
	maxHorizon      = 365 * 24 * time.Hour
	maxLookback     = 90 * 24 * time.Hour // history read, at most
	horizonSteps    = 48                  // steps the horizon is cut into, at most
	historySteps    = 24                  // steps the history is cut into, at least
	lookbackFactor  = 20                  // history read: at most this many horizons
	maxPathPoints   = 60                  // samples of the projected path in answers
	intervalLevel   = 0.95
	intervalZ       = 1.959964
	historyFraction = 10 // the history must span at least horizon/historyFraction
)

// parseHorizon reads a horizon: a Go duration (12h, 90m) or whole days (30d).
func parseHorizon(v string) (time.Duration, error) {
	if v == "" {
		return defaultHorizon, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > int(maxHorizon/(24*time.Hour)) {
			return 0, fmt.Errorf("horizon %q: days must be a whole number from 1 to 365", v)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("horizon %q: a duration (12h, 90m) or days (30d)", v)
		}
	}
	if d < minHorizon || d > maxHorizon {
		return 0, fmt.Errorf("horizon %q: must be from 1m to 365d", v)
	}
	return d, nil
}

// parseBudget reads an optional positive number.
func parseBudget(v, name string) (*float64, error) {
	if v == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return nil, problem.BadRequest("invalid "+name, problem.FieldError{Path: name, Message: "must be a positive number"})
	}
	return &f, nil
}

func (s *Service) restForecast(ctx context.Context, req *apiv1.Request) (any, error) {
	q := req.Query
	stream := q.Get("stream")
	if stream == "" {
		return nil, problem.BadRequest("stream is required", problem.FieldError{Path: "stream", Message: "required"})
	}
	h, err := parseHorizon(q.Get("horizon"))
	if err != nil {
		return nil, problem.BadRequest("invalid horizon", problem.FieldError{Path: "horizon", Message: err.Error()})
	}
	fr := apiv1.ForecastRequest{Stream: stream, Horizon: h, Model: q.Get("model")}
	if fr.BudgetSeries, err = parseBudget(q.Get("budget_series"), "budget_series"); err != nil {
		return nil, err
	}
	if fr.BudgetMonthlyCost, err = parseBudget(q.Get("budget_monthly_cost"), "budget_monthly_cost"); err != nil {
		return nil, err
	}
	return s.Forecast(ctx, &req.Principal, fr)
}

// Forecast projects a stream's active series and monthly cost from its
// stored rollups.
func (s *Service) Forecast(ctx context.Context, p *apiv1.Principal, req apiv1.ForecastRequest) (apiv1.ForecastReport, error) {
	if _, err := s.visible(p, req.Stream); err != nil {
		return apiv1.ForecastReport{}, err
	}
	if req.Horizon == 0 {
		req.Horizon = defaultHorizon
	}
	if req.Horizon < minHorizon || req.Horizon > maxHorizon {
		return apiv1.ForecastReport{}, problem.BadRequest("invalid horizon", problem.FieldError{Path: "horizon", Message: "must be from 1m to 365d"})
	}
	models := s.catalog.Models
	if req.Model != "" {
		m, ok := s.catalog.Model(req.Model)
		if !ok {
			return apiv1.ForecastReport{}, problem.BadRequest("unknown price model "+strconv.Quote(req.Model), problem.FieldError{Path: "model", Message: "not in the price catalog"})
		}
		models = []cost.Model{m}
	}
	if s.store == nil {
		return apiv1.ForecastReport{}, problem.Unavailable(0, "no rollup store is configured")
	}
	now := time.Now().UTC()
	lookback := min(maxLookback, max(s.cfg.DownsampleRetention, s.cfg.RollupRetention), lookbackFactor*req.Horizon)
	rows, err := s.store.Query(ctx, req.Stream, now.Add(-lookback), now.Add(time.Second), 0, 0)
	if err != nil {
		return apiv1.ForecastReport{}, fmt.Errorf("forecast %s: %w", req.Stream, err)
	}
	budgetModel, _ := s.catalog.Model(cmpOr(req.Model, "self-hosted"))
	return buildForecast(rows, now, req, models, budgetModel, s.cfg.RollupInterval), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// history is a stream's rollups averaged per step: mean active series
// (time-weighted), datapoints/s and bytes/s.
type history struct {
	from       time.Time
	step       time.Duration
	series, dp []float64
	bytes      []float64
	filled     int
	covered    time.Duration // time the rollups (and quiet gaps) cover
}

// stepFor picks a history step. The damping works per step, so the
// horizon is cut into at most horizonSteps steps, and the history into at
// least historySteps, never finer than the rollup interval nor than
// Fit's bound allows; a whole number of rollup intervals.
func stepFor(span, horizon, interval time.Duration) time.Duration {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	step := max(interval, min(horizon/horizonSteps, span/historySteps), span/(forecast.MaxPoints-1))
	return (step + interval - 1) / interval * interval
}

// resample averages rollups into regular steps from the first row's start
// to the last row's end. A quiet stream writes one all-zero rollup and then
// nothing: the time after such a row, up to the next row (or now, after
// the last), counts as zero series and zero datapoints. Steps no rollup
// covers otherwise are interpolated between their neighbours.
func resample(rows []apiv1.Rollup, now time.Time, horizon, interval time.Duration) history {
	if len(rows) == 0 {
		return history{}
	}
	from, to := rows[0].Start, rows[len(rows)-1].End
	if last := rows[len(rows)-1]; last.ActiveSeries == 0 && last.Datapoints == 0 && now.After(to) {
		to = now
	}
	step := stepFor(to.Sub(from), horizon, interval)
	n := max(1, int((to.Sub(from)+step-1)/step))
	h := history{from: from, step: step, series: make([]float64, n), dp: make([]float64, n), bytes: make([]float64, n)}
	secs := make([]float64, n)
	// spread adds the span [a, b) to the steps it overlaps, with series
	// weighted by time and counters in proportion to the overlap.
	spread := func(a, b time.Time, series, dp, bytes float64) {
		total := b.Sub(a).Seconds()
		for i := max(0, int(a.Sub(from)/step)); i < n; i++ {
			s0, s1 := from.Add(time.Duration(i)*step), from.Add(time.Duration(i+1)*step)
			if !s0.Before(b) {
				break
			}
			o := earlier(b, s1).Sub(later(a, s0)).Seconds()
			if o <= 0 {
				continue
			}
			h.series[i] += series * o
			h.dp[i] += dp * o / total
			h.bytes[i] += bytes * o / total
			secs[i] += o
			h.covered += time.Duration(o * float64(time.Second))
		}
	}
	for i, r := range rows {
		if !r.End.After(r.Start) {
			continue
		}
		spread(r.Start, r.End, float64(r.ActiveSeries), float64(r.Datapoints), float64(r.Bytes))
		if r.ActiveSeries == 0 && r.Datapoints == 0 {
			next := to
			if i+1 < len(rows) {
				next = rows[i+1].Start
			}
			if next.After(r.End) {
				spread(r.End, next, 0, 0, 0)
			}
		}
	}
	last := -1 // last covered step
	for i := range n {
		if secs[i] > 0 {
			h.series[i] /= secs[i]
			h.dp[i] /= secs[i]
			h.bytes[i] /= secs[i]
			if last >= 0 && last < i-1 {
				h.fill(last, i)
			}
			last = i
		}
	}
	return h
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// fill interpolates the steps strictly between covered steps a and b.
func (h *history) fill(a, b int) {
	for _, v := range [][]float64{h.series, h.dp, h.bytes} {
		for i := a + 1; i < b; i++ {
			w := float64(i-a) / float64(b-a)
			v[i] = v[a]*(1-w) + v[b]*w
		}
	}
	h.filled += b - a - 1
}

// projection is one fitted figure.
type projection struct {
	current           float64
	point, lower, upr []float64 // per step ahead, clamped at zero
	model             *forecast.Model
}

func project(y []float64, steps int) (*projection, error) {
	m, err := forecast.Fit(y)
	if err != nil {
		return nil, err
	}
	p, lo, hi := m.Path(steps, intervalZ)
	for i := range p {
		p[i], lo[i], hi[i] = max(0, p[i]), max(0, lo[i]), max(0, hi[i])
	}
	return &projection{current: y[len(y)-1], point: p, lower: lo, upr: hi, model: m}, nil
}

// buildForecast projects rows (a stream's rollups, oldest first) req.Horizon
// past the end of the last history step.
func buildForecast(rows []apiv1.Rollup, now time.Time, req apiv1.ForecastRequest, models []cost.Model, budgetModel cost.Model, interval time.Duration) apiv1.ForecastReport {
	rep := apiv1.ForecastReport{Stream: req.Stream, GeneratedAt: now, HorizonSeconds: req.Horizon.Seconds(),
		Method: apiv1.ForecastHoltDamped, IntervalLevel: intervalLevel, Path: []apiv1.ForecastPoint{},
		MonthlyCost: []apiv1.ForecastCost{}, Budgets: []apiv1.BudgetForecast{}}
	h := resample(rows, now, req.Horizon, interval)
	end := now
	if len(h.series) > 0 {
		end = h.from.Add(time.Duration(len(h.series)) * h.step)
		rep.History = apiv1.ForecastHistory{From: h.from.UTC(), To: end.UTC(), StepSeconds: h.step.Seconds(),
			Points: len(h.series), FilledPoints: h.filled}
	}
	rep.At = end.Add(req.Horizon).UTC()
	reason := ""
	span := time.Duration(len(h.series)) * h.step
	switch need := req.Horizon / historyFraction; {
	case len(rows) == 0:
		reason = "no stored rollups for this stream yet"
	case span < need:
		reason = fmt.Sprintf("the stored history covers %s; a forecast %s ahead needs at least %s (a tenth of the horizon): "+
			"ask a shorter horizon or wait", span.Round(time.Second), req.Horizon, need.Round(time.Second))
	case len(h.series) < forecast.MinPoints:
		reason = fmt.Sprintf("the stored history has %d steps of %s; a forecast needs at least %d", len(h.series), h.step, forecast.MinPoints)
	case h.covered*2 < span:
		reason = fmt.Sprintf("rollups cover only %s of the %s of history", h.covered.Round(time.Second), span.Round(time.Second))
	}
	var steps int
	var series, dp, bytes *projection
	if reason == "" {
		steps = int((req.Horizon + h.step - 1) / h.step)
		var errs []error
		var err error
		series, err = project(h.series, steps)
		errs = append(errs, err)
		dp, err = project(h.dp, steps)
		errs = append(errs, err)
		bytes, err = project(h.bytes, steps)
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			reason = "the history cannot be fitted: " + err.Error()
			series = nil
		}
	}
	if series == nil {
		rep.ActiveSeriesUnknownReason = reason
	} else {
		m := series.model
		rep.Params = &apiv1.ForecastParams{Alpha: m.Alpha, Beta: m.Beta, Phi: m.Phi, Sigma: m.Sigma}
		last := steps - 1
		rep.ActiveSeries = &apiv1.ForecastValue{Current: series.current, Point: series.point[last], Lower: series.lower[last], Upper: series.upr[last]}
		every := max(1, (steps+maxPathPoints-1)/maxPathPoints)
		for i := every - 1; i < steps; i += every {
			rep.Path = append(rep.Path, pathPoint(end, h.step, i, series))
		}
		if (steps-1)%every != every-1 {
			rep.Path = append(rep.Path, pathPoint(end, h.step, last, series))
		}
	}
	figs := func(i int, pick func(*projection, int) float64) cost.Figures {
		a, d, b := pick(series, i), pick(dp, i), pick(bytes, i)
		return cost.Figures{ActiveSeries: &a, DPPerS: &d, BytesPerS: &b}
	}
	var (
		cur   = func(p *projection, _ int) float64 { return p.current }
		point = func(p *projection, i int) float64 { return p.point[i] }
		lower = func(p *projection, i int) float64 { return p.lower[i] }
		upper = func(p *projection, i int) float64 { return p.upr[i] }
	)
	for _, m := range models {
		fc := apiv1.ForecastCost{Model: m.Name, Unit: m.Unit}
		if series == nil {
			fc.MonthlyCostUnknownReason = reason
			rep.MonthlyCost = append(rep.MonthlyCost, fc)
			continue
		}
		fc.Current, fc.MonthlyCostUnknownReason = cost.Monthly(m, figs(0, cur))
		fc.MonthlyCost, _ = cost.Monthly(m, figs(steps-1, point))
		fc.Lower, _ = cost.Monthly(m, figs(steps-1, lower))
		fc.Upper, _ = cost.Monthly(m, figs(steps-1, upper))
		rep.MonthlyCost = append(rep.MonthlyCost, fc)
	}
	if req.BudgetSeries != nil {
		b := apiv1.BudgetForecast{Kind: apiv1.BudgetKindSeries, Limit: *req.BudgetSeries}
		if series == nil {
			b.Status, b.UnknownReason = apiv1.BudgetUnknown, reason
		} else {
			crossing(&b, end, h.step, steps, series.current, func(i int) (float64, float64) { return series.point[i], series.upr[i] })
		}
		rep.Budgets = append(rep.Budgets, b)
	}
	if req.BudgetMonthlyCost != nil {
		b := apiv1.BudgetForecast{Kind: apiv1.BudgetKindMonthlyCost, Limit: *req.BudgetMonthlyCost, Model: budgetModel.Name}
		now, why := (*float64)(nil), reason
		if series != nil {
			now, why = cost.Monthly(budgetModel, figs(0, cur))
		}
		if now == nil {
			b.Status, b.UnknownReason = apiv1.BudgetUnknown, why
		} else {
			crossing(&b, end, h.step, steps, *now, func(i int) (float64, float64) {
				p, _ := cost.Monthly(budgetModel, figs(i, point))
				u, _ := cost.Monthly(budgetModel, figs(i, upper))
				if p == nil || u == nil { // the model priced the current figures, so it prices these
					return 0, 0
				}
				return *p, *u
			})
		}
		rep.Budgets = append(rep.Budgets, b)
	}
	return rep
}

func pathPoint(end time.Time, step time.Duration, i int, p *projection) apiv1.ForecastPoint {
	return apiv1.ForecastPoint{Time: end.Add(time.Duration(i+1) * step).UTC(), ActiveSeries: p.point[i], Lower: p.lower[i], Upper: p.upr[i]}
}

// crossing fills b's status and times: at(i) is the point forecast and the
// interval's upper bound i+1 steps after end.
func crossing(b *apiv1.BudgetForecast, end time.Time, step time.Duration, steps int, current float64, at func(i int) (point, upper float64)) {
	if current >= b.Limit {
		b.Status = apiv1.BudgetOver
		t := end.UTC()
		b.CrossesAt, b.EarliestAt = &t, &t
		return
	}
	b.Status = apiv1.BudgetWithin
	for i := range steps {
		p, u := at(i)
		t := end.Add(time.Duration(i+1) * step).UTC()
		if b.EarliestAt == nil && u >= b.Limit {
			b.EarliestAt, b.Status = &t, apiv1.BudgetMayCross
		}
		if p >= b.Limit {
			b.CrossesAt, b.Status = &t, apiv1.BudgetCrosses
			return
		}
	}
}
