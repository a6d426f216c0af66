package server

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cost"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/fidelity"
)

// maxTopValues bounds top_values per label in answers.
const maxTopValues = 100

func (s *Service) endpoints() []messaging.Endpoint {
	return []messaging.Endpoint{
		{Name: "cardinality", Subject: apiv1.SubjectAnalyticsCardinality, Handler: s.natsCardinality},
		{Name: "estimate", Subject: apiv1.SubjectAnalyticsEstimate, Handler: s.natsEstimate},
		{Name: "cost", Subject: apiv1.SubjectAnalyticsCost, Handler: s.natsCost},
		{Name: "compare", Subject: apiv1.SubjectAnalyticsCompare, Handler: s.natsCompare},
		{Name: "streams", Subject: apiv1.SubjectAnalyticsStreams, Handler: s.natsStreams},
		{Name: "reserve-streams", Subject: apiv1.SubjectAnalyticsReserveStreams, Handler: s.natsReserveStreams},
		{Name: "entities", Subject: apiv1.SubjectAnalyticsEntities, Handler: s.natsEntities},
	}
}

// natsReserveStreams reserves an experiment's variant streams for the
// agents it deploys to (the controller asks before deploying; ADR 0016).
// Invalid requests are 400, a stream another team holds 409, a full table
// 503.
func (s *Service) natsReserveStreams(_ context.Context, data []byte) (any, error) {
	var req apiv1.StreamReservation
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	err := s.tracker.Reserve(req.Team, req.Streams, req.Agents, req.Until)
	if errors.Is(err, cardinality.ErrReservationConflict) && s.set.Config != nil && s.ingestOpen() {
		// Open ingest (--dev) checks no writer, so a reservation changes
		// nothing there; a stream the open loop created earlier (owned by
		// the default team) must not fail the experiment.
		s.log.Warn("variant stream reservation conflict ignored: ingest is open", "experiment", req.Experiment, "error", err)
		return apiv1.StreamReservationReply{Streams: req.Streams}, nil
	}
	switch {
	case errors.Is(err, cardinality.ErrReservationInvalid):
		return nil, problem.BadRequest(err.Error())
	case errors.Is(err, cardinality.ErrReservationConflict):
		return nil, problem.Conflict("experiment %s: %v", req.Experiment, err)
	case errors.Is(err, cardinality.ErrReservationsFull):
		return nil, problem.Unavailable(time.Minute, "%v", err)
	case err != nil:
		return nil, err
	}
	s.log.Info("variant streams reserved", "experiment", req.Experiment, "team", req.Team,
		"streams", req.Streams, "agents", len(req.Agents), "until", req.Until)
	return apiv1.StreamReservationReply{Streams: req.Streams}, nil
}

// Operations is analytics' REST handler table, keyed by the operationIds of
// api/openapi.yaml (x-phoenix-service: analytics).
func (s *Service) Operations() apiv1.Operations {
	return apiv1.Operations{
		"listStreams":          apiv1.ListOf(s.restStreams, streamCursor),
		"getStreamCardinality": s.restCardinality,
		"getStreamRollups":     s.restRollups,
		"getCost":              s.restCost,
		"compareStreams":       s.restCompare,
		"getForecast":          s.restForecast,
	}
}

// visible returns the stream when it exists and the caller may see it;
// otherwise 404, so callers cannot probe other teams' streams.
func (s *Service) visible(p *apiv1.Principal, id string) (*cardinality.Stream, error) {
	st := s.tracker.Stream(id)
	if st == nil || p != nil && !p.InTeam(st.Team()) {
		return nil, problem.NotFound("stream %q not found", id)
	}
	return st, nil
}

// Cardinality answers a stream's breakdown.
func (s *Service) Cardinality(p *apiv1.Principal, stream string, top int) (apiv1.CardinalityReport, error) {
	st, err := s.visible(p, stream)
	if err != nil {
		return apiv1.CardinalityReport{}, err
	}
	if top <= 0 {
		top = 10
	}
	return s.fitReply(s.reports.get(st, min(top, maxTopValues))), nil
}

// fitReply bounds a cardinality reply to the bus's payload limit: NATS
// drops a bigger reply and the caller would wait for its timeout. The
// headroom covers the reply's NATS and micro headers.
func (s *Service) fitReply(rep apiv1.CardinalityReport) apiv1.CardinalityReport {
	const headroom = 8 << 10
	limit := int64(1 << 20) // NATS's default max_payload
	if s.set.Bus != nil && s.set.Bus.Conn != nil {
		if mp := s.set.Bus.Conn.MaxPayload(); mp > 0 {
			limit = mp
		}
	}
	return cardinality.FitReport(rep, int(limit-headroom))
}

// reportTTL is how long a computed breakdown is served again: a breakdown
// of a million series takes seconds of CPU, and dashboards poll.
const reportTTL = 2 * time.Second

// reportCache keeps each stream's last breakdown for reportTTL and lets one
// caller compute it while the others wait for the result. Entries are per
// stream (bounded by the stream limit) and replaced, never accumulated.
type reportCache struct {
	mu      sync.Mutex
	entries map[string]*reportEntry
}

type reportEntry struct {
	done chan struct{}
	at   time.Time
	top  int
	rep  apiv1.CardinalityReport
}

// snapCache keeps each stream's last snapshot for reportTTL: the
// generator asks several estimates in a row, and a snapshot of a million
// series is a 30 MB copy. Snapshots are read-only once taken.
type snapCache struct {
	mu      sync.Mutex
	entries map[string]snapEntry
}

type snapEntry struct {
	sn *cardinality.Snapshot
	at time.Time
}

func (c *snapCache) get(st *cardinality.Stream) *cardinality.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]snapEntry{}
	}
	if e, ok := c.entries[st.Name()]; ok && time.Since(e.at) < reportTTL {
		return e.sn
	}
	// Drop expired snapshots so the cache holds at most the recent ones.
	for k, e := range c.entries {
		if time.Since(e.at) >= reportTTL {
			delete(c.entries, k)
		}
	}
	sn := st.Snapshot()
	c.entries[st.Name()] = snapEntry{sn: sn, at: time.Now()}
	return sn
}

func (c *reportCache) get(st *cardinality.Stream, top int) apiv1.CardinalityReport {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*reportEntry{}
	}
	e := c.entries[st.Name()]
	if e != nil && e.top == top && (e.at.IsZero() || time.Since(e.at) < reportTTL) {
		c.mu.Unlock()
		<-e.done
		return e.rep
	}
	e = &reportEntry{done: make(chan struct{}), top: top}
	c.entries[st.Name()] = e
	c.mu.Unlock()
	e.rep = st.Snapshot().Report(top)
	c.mu.Lock()
	e.at = time.Now()
	c.mu.Unlock()
	close(e.done)
	return e.rep
}

func (s *Service) natsCardinality(_ context.Context, data []byte) (any, error) {
	var req apiv1.CardinalityRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	return s.Cardinality(nil, req.Stream, req.TopValues)
}

func (s *Service) restCardinality(_ context.Context, req *apiv1.Request) (any, error) {
	top := 10
	if v := req.Query.Get("top_values"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTopValues {
			return nil, problem.BadRequest("invalid top_values", problem.FieldError{Path: "top_values", Message: "must be an integer from 1 to 100"})
		}
		top = n
	}
	return s.Cardinality(&req.Principal, req.Params["stream"], top)
}

// Streams lists up to n streams p may see (nil = all), sorted by id, after
// cursor (a stream id; it need not exist any more).
func (s *Service) Streams(p *apiv1.Principal, cursor string, n int) []apiv1.StreamSummary {
	all := s.tracker.Streams()
	slices.SortFunc(all, func(a, b *cardinality.Stream) int { return cmp.Compare(a.Name(), b.Name()) })
	out := []apiv1.StreamSummary{}
	for _, st := range all {
		if len(out) == n {
			break
		}
		if st.Name() <= cursor || p != nil && !p.InTeam(st.Team()) {
			continue
		}
		out = append(out, st.Summary())
	}
	return out
}

func (s *Service) natsStreams(ctx context.Context, data []byte) (any, error) {
	var req apiv1.StreamsRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	// The first page of GET /api/v1/streams?limit=500, through the same paginator.
	page := &apiv1.Request{Principal: req.Principal, Query: url.Values{"limit": {strconv.Itoa(apiv1.MaxLimit)}}}
	return apiv1.Paginate(ctx, page, s.restStreams, streamCursor)
}

func streamCursor(st apiv1.StreamSummary) string { return st.Stream }

func (s *Service) restStreams(_ context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.StreamSummary, error) {
	return s.Streams(&req.Principal, cursor, n), nil
}

func (s *Service) natsEstimate(_ context.Context, data []byte) (any, error) {
	var req apiv1.EstimateRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	st, err := s.visible(nil, req.Stream)
	if err != nil {
		return nil, err
	}
	rep, err := s.ranks.Estimate(s.snaps.get(st), req)
	if err != nil {
		return nil, problem.BadRequest(err.Error())
	}
	return rep, nil
}

// figures returns a stream's live cost figures.
func figures(f cardinality.Figures) cost.Figures {
	as := float64(f.ActiveSeries)
	return cost.Figures{ActiveSeries: &as, DPPerS: f.DPPerS, BytesPerS: f.BytesPerS}
}

// Cost prices a stream (or explicit figures) under one model or all.
func (s *Service) Cost(p *apiv1.Principal, req apiv1.CostRequest) (apiv1.CostReport, error) {
	if req.By != "" {
		return s.showback(p, req)
	}
	f := cost.Figures{ActiveSeries: req.ActiveSeries, DPPerS: req.DPPerS, BytesPerS: req.BytesPerS}
	if req.Stream != "" {
		st, err := s.visible(p, req.Stream)
		if err != nil {
			return apiv1.CostReport{}, err
		}
		f = figures(st.Figures())
	}
	rep, err := s.catalog.Report(req.Stream, req.Model, f)
	if err != nil {
		return rep, problem.BadRequest(err.Error(), problem.FieldError{Path: "model", Message: err.Error()})
	}
	return rep, nil
}

// defaultShowbackTop is how many label values a showback lists one by one.
const defaultShowbackTop = 20

// showback prices a stream and splits it by req.By's values. The stream is
// priced on its snapshot's active series (not the table count Figures
// reads), so the groups add up to exactly the stream's figures.
func (s *Service) showback(p *apiv1.Principal, req apiv1.CostRequest) (apiv1.CostReport, error) {
	if req.Stream == "" {
		return apiv1.CostReport{}, problem.BadRequest("stream is required with by", problem.FieldError{Path: "stream", Message: "required with by"})
	}
	if len(req.By) > 256 {
		return apiv1.CostReport{}, problem.BadRequest("invalid by", problem.FieldError{Path: "by", Message: "a label name of at most 256 bytes"})
	}
	top := req.Top
	if top == 0 {
		top = defaultShowbackTop
	}
	if top < 1 || top > cost.MaxShowbackTop {
		return apiv1.CostReport{}, problem.BadRequest("invalid top", problem.FieldError{Path: "top", Message: "must be an integer from 1 to 500"})
	}
	st, err := s.visible(p, req.Stream)
	if err != nil {
		return apiv1.CostReport{}, err
	}
	fig := st.Figures()
	sn := s.snaps.get(st)
	sp := sn.SplitBy(req.By)
	as := float64(sp.Tracked) + float64(int64(sp.Overflow+0.5))
	rep, err := s.catalog.Report(req.Stream, req.Model, cost.Figures{ActiveSeries: &as, DPPerS: fig.DPPerS, BytesPerS: fig.BytesPerS})
	if err != nil {
		return rep, problem.BadRequest(err.Error(), problem.FieldError{Path: "model", Message: err.Error()})
	}
	sb := s.catalog.Showback(rep, sp, top)
	sb.WindowFrom, sb.WindowTo = sn.Time.Add(-sn.Staleness).UTC(), sn.Time.UTC()
	rep.Showback = &sb
	return rep, nil
}

func (s *Service) natsCost(_ context.Context, data []byte) (any, error) {
	var req apiv1.CostRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	return s.Cost(nil, req)
}

func (s *Service) restCost(_ context.Context, req *apiv1.Request) (any, error) {
	stream := req.Query.Get("stream")
	if stream == "" {
		return nil, problem.BadRequest("stream is required", problem.FieldError{Path: "stream", Message: "required"})
	}
	creq := apiv1.CostRequest{Stream: stream, Model: req.Query.Get("model"), By: req.Query.Get("by")}
	if v := req.Query.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > cost.MaxShowbackTop {
			return nil, problem.BadRequest("invalid top", problem.FieldError{Path: "top", Message: "must be an integer from 1 to 500"})
		}
		creq.Top = n
	}
	return s.Cost(&req.Principal, creq)
}

// Compare runs the fidelity comparison.
func (s *Service) Compare(ctx context.Context, p *apiv1.Principal, req apiv1.CompareRequest) (apiv1.CompareReport, error) {
	if req.Baseline == "" || req.Candidate == "" {
		return apiv1.CompareReport{}, problem.BadRequest("baseline and candidate are required",
			problem.FieldError{Path: "baseline", Message: "required"}, problem.FieldError{Path: "candidate", Message: "required"})
	}
	if !req.From.IsZero() && !req.To.IsZero() && !req.From.Before(req.To) {
		return apiv1.CompareReport{}, problem.BadRequest("from must be before to", problem.FieldError{Path: "from", Message: "must be before to"})
	}
	model := req.Model
	if model == "" {
		model = "self-hosted"
	}
	m, ok := s.catalog.Model(model)
	if !ok {
		return apiv1.CompareReport{}, problem.BadRequest("unknown price model "+strconv.Quote(model), problem.FieldError{Path: "model", Message: "not in the price catalog"})
	}
	in := fidelity.Inputs{Critical: req.Critical, Aggregates: req.Aggregates, Queries: req.Queries, Watcher: s.watch, Now: time.Now()}
	if p != nil {
		in.Owner = p.Kind + ":" + p.Subject
	}
	rep := apiv1.CompareReport{Baseline: req.Baseline, Candidate: req.Candidate, From: req.From, To: req.To, Model: model}
	// Only critical retention and aggregates need the series; the
	// aggregates alone need only their metrics', which on a large stream is
	// a far smaller copy made under the stream's lock.
	names, aggregatesOnly := aggregateMetrics(req.Aggregates)
	aggregatesOnly = aggregatesOnly && len(req.Critical) == 0
	for i, id := range []string{req.Baseline, req.Candidate} {
		vol := fidelity.Volume{}
		var sn *cardinality.Snapshot
		st := s.tracker.Stream(id)
		if st != nil && p != nil && !p.InTeam(st.Team()) {
			return rep, problem.NotFound("stream %q not found", id)
		}
		if st != nil && (len(req.Critical) > 0 || len(req.Aggregates) > 0) {
			if aggregatesOnly {
				if st.Summary().ActiveSeries > 0 {
					sn = st.SnapshotMetrics(names)
				}
			} else if sn = st.Snapshot(); len(sn.Series) == 0 {
				sn = nil
			}
		}
		windowed := !req.From.IsZero() || !req.To.IsZero()
		switch {
		case windowed:
			vol = s.windowVolume(ctx, id, req.From, req.To)
		case st == nil:
			vol.Reason = "stream " + strconv.Quote(id) + " has no data"
		default:
			vol = volumeOf(st.Figures())
		}
		vol.Cost, vol.CostReason = cost.Monthly(m, cost.Figures{ActiveSeries: vol.ActiveSeries, DPPerS: vol.DPPerS, BytesPerS: vol.BytesPerS})
		if i == 0 {
			in.Baseline, in.BaselineVol = sn, vol
		} else {
			in.Candidate, in.CandidateVol = sn, vol
		}
	}
	out, err := fidelity.Compare(rep, in)
	if err != nil {
		return out, problem.BadRequest(err.Error())
	}
	return out, nil
}

// aggregateMetrics names the metrics the aggregates read; ok is false when
// one does not parse (Compare then answers 400).
func aggregateMetrics(exprs []string) (names []string, ok bool) {
	for _, e := range exprs {
		ag, err := fidelity.ParseAggregate(e)
		if err != nil {
			return nil, false
		}
		names = append(names, ag.Metric)
	}
	return names, true
}

func volumeOf(f cardinality.Figures) fidelity.Volume {
	as := float64(f.ActiveSeries)
	v := fidelity.Volume{ActiveSeries: &as, DPPerS: f.DPPerS, BytesPerS: f.BytesPerS}
	if f.DPPerS == nil {
		v.Reason = f.DPPerSUnknownReason
	}
	return v
}

// windowVolume averages a stream's stored rollups over [from, to).
func (s *Service) windowVolume(ctx context.Context, id string, from, to time.Time) fidelity.Volume {
	if s.store == nil {
		return fidelity.Volume{Reason: "no rollup store is configured"}
	}
	if to.IsZero() {
		to = time.Now()
	}
	rs, err := s.store.Query(ctx, id, from, to, 0, 0)
	if err != nil {
		return fidelity.Volume{Reason: "rollups unavailable: " + err.Error()}
	}
	if len(rs) == 0 {
		return fidelity.Volume{Reason: "no rollups for " + strconv.Quote(id) + " in the window"}
	}
	// A quiet stream stops writing rollups after one all-zero row
	// (rollupOnce): the time after such a row, up to the next row or the
	// window's end, counts as zero series and zero datapoints.
	var series, dp, bytes, secs float64
	for i, r := range rs {
		span := r.End.Sub(r.Start).Seconds()
		series += float64(r.ActiveSeries) * span
		dp += float64(r.Datapoints)
		bytes += float64(r.Bytes)
		secs += span
		if r.ActiveSeries == 0 && r.Datapoints == 0 {
			end := to
			if i+1 < len(rs) {
				end = rs[i+1].Start
			} else if now := time.Now(); end.After(now) {
				end = now
			}
			if gap := end.Sub(r.End).Seconds(); gap > 0 {
				secs += gap
			}
		}
	}
	if secs <= 0 {
		return fidelity.Volume{Reason: "rollups in the window cover no time"}
	}
	series /= secs // time-weighted: a 5-minute downsampled row weighs 30 ten-second rows
	dps, bps := dp/secs, bytes/secs
	return fidelity.Volume{ActiveSeries: &series, DPPerS: &dps, BytesPerS: &bps}
}

func (s *Service) natsCompare(ctx context.Context, data []byte) (any, error) {
	var req apiv1.CompareRequest
	if err := messaging.Decode(data, &req); err != nil {
		return nil, err
	}
	return s.Compare(ctx, nil, req)
}

func parseTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Unix(0, int64(n*1e9)).UTC(), nil
	}
	return time.Time{}, problem.BadRequest("invalid "+name, problem.FieldError{Path: name, Message: "must be RFC 3339 or Unix seconds"})
}

func (s *Service) restCompare(ctx context.Context, req *apiv1.Request) (any, error) {
	from, err := parseTime(req.Query.Get("from"), "from")
	if err != nil {
		return nil, err
	}
	to, err := parseTime(req.Query.Get("to"), "to")
	if err != nil {
		return nil, err
	}
	return s.Compare(ctx, &req.Principal, apiv1.CompareRequest{
		Baseline: req.Query.Get("baseline"), Candidate: req.Query.Get("candidate"), From: from, To: to,
		Critical: req.Query["critical"], Aggregates: req.Query["aggregate"], Queries: req.Query["query"], Model: req.Query.Get("model"),
	})
}

// maxRollupBuckets bounds one rollups answer.
const maxRollupBuckets = 2000

func (s *Service) restRollups(ctx context.Context, req *apiv1.Request) (any, error) {
	id := req.Params["stream"]
	if _, err := s.visible(&req.Principal, id); err != nil {
		return nil, err
	}
	if s.store == nil {
		return nil, problem.Unavailable(0, "no rollup store is configured")
	}
	now := time.Now().UTC()
	from, err := parseTime(req.Query.Get("from"), "from")
	if err != nil {
		return nil, err
	}
	to, err := parseTime(req.Query.Get("to"), "to")
	if err != nil {
		return nil, err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
	}
	if !from.Before(to) {
		return nil, problem.BadRequest("from must be before to", problem.FieldError{Path: "from", Message: "must be before to"})
	}
	var step time.Duration
	if v := req.Query.Get("step"); v != "" {
		if step, err = time.ParseDuration(v); err != nil {
			n, nerr := strconv.ParseFloat(v, 64)
			if nerr != nil {
				return nil, problem.BadRequest("invalid step", problem.FieldError{Path: "step", Message: "a duration (30s, 5m) or seconds"})
			}
			step = time.Duration(n * float64(time.Second))
		}
		if step < time.Second {
			return nil, problem.BadRequest("invalid step", problem.FieldError{Path: "step", Message: "must be at least 1s"})
		}
		if to.Sub(from)/step > maxRollupBuckets {
			return nil, problem.BadRequest("too many points", problem.FieldError{Path: "step", Message: "at most 2000 buckets per query"})
		}
	}
	rs, err := s.store.Query(ctx, id, from, to, step, maxRollupBuckets)
	if err != nil {
		return nil, err
	}
	out := apiv1.List[apiv1.Rollup]{Items: make([]apiv1.Rollup, 0, len(rs))}
	keepSketch := req.Query.Get("sketch") == "true"
	for _, r := range rs {
		if !keepSketch {
			r.HLL = nil
		}
		out.Items = append(out.Items, r)
	}
	return out, nil
}
