package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
)

// Analyzer is experiment.Analyzer over analytics: one compare per
// candidate against the baseline over the window, and the streams'
// rollups to count the windows in which both delivered data.
type Analyzer struct {
	Bus Requester
	// Silence, when set, finds agents that sent nothing on a variant;
	// they make the verdict inconclusive.
	Silence *Silence
}

var (
	_ experiment.Analyzer = (*Analyzer)(nil)
	_ experiment.Watcher  = (*Analyzer)(nil)
)

// Watch asks analytics to compare each candidate with the baseline once,
// naming the spec's aggregates, as measurement starts: analytics then
// records their values at every rollup until the analysis reads them.
func (a *Analyzer) Watch(ctx context.Context, r *experiment.Record) error {
	spec := &r.Spec.Spec
	if len(spec.Aggregates) == 0 && len(spec.QueryExprs()) == 0 {
		return nil
	}
	base := experiment.StreamID(r.Name(), experiment.BaselineVariant)
	var errs []error
	for _, c := range spec.Candidates {
		stream := experiment.StreamID(r.Name(), c.Name)
		var rep apiv1.CompareReport
		err := a.Bus.Request(ctx, apiv1.SubjectAnalyticsCompare, apiv1.CompareRequest{
			Baseline: base, Candidate: stream, Aggregates: spec.Aggregates, Model: spec.Criteria.PriceModel,
			Queries: spec.QueryExprs(),
		}, &rep)
		if err != nil {
			errs = append(errs, fmt.Errorf("watch %s against %s: %w", stream, base, err))
		}
	}
	return errors.Join(errs...)
}

// Analyze measures every candidate of r over [from, to]. A variant stream
// analytics does not know, or whose rollups carry no datapoints in the
// window, is listed in EmptyStreams (the verdict is then inconclusive).
func (a *Analyzer) Analyze(ctx context.Context, r *experiment.Record, from, to time.Time) (experiment.DataFacts, []experiment.Figures, error) {
	var facts experiment.DataFacts
	spec := &r.Spec.Spec
	base := experiment.StreamID(r.Name(), experiment.BaselineVariant)
	baseTicks, err := a.ticks(ctx, base, from, to)
	if err != nil {
		return facts, nil, err
	}
	if len(baseTicks) == 0 {
		facts.EmptyStreams = append(facts.EmptyStreams, base)
	}
	figs := make([]experiment.Figures, 0, len(spec.Candidates))
	for _, c := range spec.Candidates {
		stream := experiment.StreamID(r.Name(), c.Name)
		ticks, err := a.ticks(ctx, stream, from, to)
		if err != nil {
			return facts, nil, err
		}
		if len(ticks) == 0 {
			facts.EmptyStreams = append(facts.EmptyStreams, stream)
		}
		windows := 0
		for end := range ticks {
			if baseTicks[end] {
				windows++
			}
		}
		var rep apiv1.CompareReport
		err = a.Bus.Request(ctx, apiv1.SubjectAnalyticsCompare, apiv1.CompareRequest{
			Baseline: base, Candidate: stream, From: from, To: to,
			Critical: spec.Critical, Aggregates: spec.Aggregates, Model: spec.Criteria.PriceModel,
			Queries: spec.QueryExprs(),
		}, &rep)
		if err != nil {
			return facts, nil, fmt.Errorf("compare %s with %s: %w", stream, base, err)
		}
		figs = append(figs, experiment.FiguresFromCompare(c.Name, rep, windows))
	}
	if a.Silence != nil {
		silent, note, err := a.Silence.Check(ctx, r, from)
		if err != nil {
			return facts, nil, err
		}
		facts.SilentAgents, facts.Note = silent, note
	}
	return facts, figs, nil
}

// ticks returns the ends of stream's rollups in [from, to] that carry
// datapoints; a stream analytics never saw has none.
func (a *Analyzer) ticks(ctx context.Context, stream string, from, to time.Time) (map[time.Time]bool, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	var page apiv1.List[apiv1.Rollup]
	err := a.Bus.Request(ctx, apiv1.Subject("analytics", "getStreamRollups"),
		apiv1.Request{Principal: service, Params: map[string]string{"stream": stream}, Query: q}, &page)
	var p *problem.Error
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return map[time.Time]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollups of %s: %w", stream, err)
	}
	out := make(map[time.Time]bool, len(page.Items))
	for _, r := range page.Items {
		if r.Datapoints > 0 {
			out[r.End.UTC().Truncate(time.Second)] = true
		}
	}
	return out, nil
}
