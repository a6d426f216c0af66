package anomalydetector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

// maxOpen bounds the open alerts tracked for auto-resolution; beyond it new
// alerts are refused (and logged) until some resolve.
const maxOpen = 10_000

// Alert event types on phoenix.events.alert.<id>.
const (
	EventFired        = "fired"
	EventAcknowledged = "acknowledged"
	EventResolved     = "resolved"
)

// ResolvedByAuto marks an alert resolved because its condition cleared.
const ResolvedByAuto = "auto"

// streamState is what the service keeps per watched stream besides its
// ensembles. Streams are admitted by the detector, so this map has its bound.
type streamState struct {
	rollups   int64
	team      string
	prev      *apiv1.CardinalityReport // the baseline breakdown an explosion is diffed against
	prevAt    int64                    // rollups when prev was fetched
	exploding bool                     // an explosion alert is open: keep the pre-explosion baseline
	// causeMetric and causeLabel name the open explosion's cause (user
	// explosion rules report it).
	causeMetric, causeLabel string
}

// openAlert is an open alert's condition, checked on every rollup of its
// stream.
type openAlert struct {
	id, rule, stream, signal string
	ruleID                   string // a user rule's alert: the rules engine resolves it
	baseline                 float64
	clear                    int // rollups in a row without the condition
}

// handle decodes one rollup event, processes it and acknowledges it. A
// rollup is observed once: a failure after observing (database, analytics)
// is logged, not redelivered, which would teach the ensembles the point twice.
func (s *Service) handle(ctx context.Context, m jetstream.Msg) {
	defer s.handled.Add(1)
	r, err := decodeRollup(m.Data())
	if err != nil {
		s.metrics.bad.Inc()
		s.log.Debug("malformed rollup event", "subject", m.Subject(), "error", err)
		_ = m.Term()
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.process(pctx, r); err != nil && ctx.Err() == nil {
		s.log.Warn("process rollup failed", "stream", r.Stream, "error", err)
	}
	_ = m.Ack()
}

// decodeRollup reads a rollup event's envelope and data.
func decodeRollup(data []byte) (apiv1.Rollup, error) {
	var ev messaging.Event
	var r apiv1.Rollup
	if err := json.Unmarshal(data, &ev); err != nil {
		return r, fmt.Errorf("decode event: %w", err)
	}
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return r, fmt.Errorf("decode rollup: %w", err)
	}
	if r.Stream == "" {
		return r, errors.New("decode rollup: no stream")
	}
	return r, nil
}

// process observes one rollup and acts on what it showed.
func (s *Service) process(ctx context.Context, r apiv1.Rollup) error {
	obs, ok := s.det.Observe(r)
	if !ok {
		s.metrics.refused.Inc()
		return nil
	}
	s.metrics.rollups.Inc()
	var errs []error
	if obs.Evicted != "" {
		delete(s.streams, obs.Evicted)
		errs = append(errs, s.store.DeleteSeries(ctx, obs.Evicted))
		s.log.Info("idle stream forgotten", "stream", obs.Evicted, "for_stream", r.Stream)
	}
	st := s.streams[r.Stream]
	if st == nil {
		st = &streamState{}
		s.streams[r.Stream] = st
	}
	st.rollups++
	switch {
	case obs.Explosion != nil:
		errs = append(errs, s.explode(ctx, r.Stream, st, *obs.Explosion))
	case !st.exploding && (st.prev == nil || st.rollups-st.prevAt >= int64(s.cfg.BreakdownEvery)):
		if rep, err := s.breakdown(ctx, r.Stream); err != nil {
			s.log.Debug("baseline breakdown unavailable", "stream", r.Stream, "error", err)
		} else {
			st.prev, st.prevAt, st.team = &rep, st.rollups, rep.Team
		}
	}
	if s.cfg.DetectorAlerts {
		for _, sig := range obs.Labelled {
			errs = append(errs, s.anomalyAlert(ctx, r.Stream, st, sig, obs))
		}
	}
	s.scores.record(obs, st.team)
	errs = append(errs, s.settle(ctx, r.Stream, st, obs))
	errs = append(errs, s.evaluateRules(ctx, r, st, obs))
	return errors.Join(errs...)
}

// breakdown asks analytics for the stream's cardinality breakdown.
func (s *Service) breakdown(ctx context.Context, stream string) (apiv1.CardinalityReport, error) {
	var rep apiv1.CardinalityReport
	// Top values are not needed for the diff; one keeps the reply small.
	err := s.set.Bus.Request(ctx, apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: stream, TopValues: 1}, &rep)
	if err != nil {
		return rep, fmt.Errorf("cardinality of %s: %w", stream, err)
	}
	return rep, nil
}

// explode fires (or updates) the explosion alert, naming the metric and
// label whose distinct values grew most since the baseline breakdown.
func (s *Service) explode(ctx context.Context, stream string, st *streamState, g detect.Growth) error {
	growth := fmt.Sprintf("active series %s -> %s", fmtCount(g.Baseline), fmtCount(g.Current))
	if g.Baseline > 0 {
		growth += fmt.Sprintf(" (+%.0f%%)", (g.Current-g.Baseline)/g.Baseline*100)
	}
	a := apiv1.Alert{
		Rule: apiv1.RuleExplosion, Severity: apiv1.SeverityHigh, Stream: stream, Team: st.team,
		Signal: detect.ActiveSeries, Value: g.Current, Baseline: g.Baseline,
		Summary: growth + "; cause unknown: no cardinality breakdown from analytics",
	}
	rep, err := s.breakdown(ctx, stream)
	if err == nil {
		if rep.Team != "" {
			a.Team, st.team = rep.Team, rep.Team
		}
		if cause, ok := detect.Attribute(st.prev, rep); ok {
			a.Metric, a.Label, a.Summary = cause.Metric, cause.Label, cause.Summary()+"; "+growth
			attr := cause.Attribution
			a.Attribution = &attr
			st.causeMetric, st.causeLabel = cause.Metric, cause.Label
		} else {
			a.Summary = growth + "; no label gained values"
		}
	} else {
		s.log.Warn("explosion not attributed", "stream", stream, "error", err)
	}
	st.exploding = true
	return s.fire(ctx, a)
}

// anomalyAlert fires (or updates) the alert of a labelled signal.
func (s *Service) anomalyAlert(ctx context.Context, stream string, st *streamState, sig string, obs detect.Observation) error {
	if st.team == "" {
		if rep, err := s.breakdown(ctx, stream); err == nil {
			st.team = rep.Team
		}
	}
	return s.fire(ctx, apiv1.Alert{
		Rule: apiv1.RuleAnomaly, Severity: apiv1.SeverityMedium, Stream: stream, Team: st.team, Signal: sig,
		Value:   obs.Values[sig],
		Summary: fmt.Sprintf("%s of stream %s is anomalous: %.4g (score %.2f)", sig, stream, obs.Values[sig], obs.Scores[sig]),
	})
}

// fire stores the alert (deduplicated) and publishes a new one.
func (s *Service) fire(ctx context.Context, a apiv1.Alert) error {
	key := store.DedupKey(a)
	s.mu.Lock()
	oa, tracked := s.open[key]
	full := !tracked && len(s.open) >= maxOpen
	s.mu.Unlock()
	if full {
		return fmt.Errorf("alert %s not opened: %d alerts open already", key, maxOpen)
	}
	if !tracked {
		// A silence in force when the alert opens mutes all of its
		// notifications; the alert is recorded either way.
		si, err := s.silenceFor(ctx, a)
		if err != nil {
			s.log.Warn("silences not checked", "error", err)
		}
		a.SilencedBy = si
	}
	stored, created, err := s.store.Fire(ctx, a, s.now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	if tracked {
		oa.clear = 0
	} else {
		s.open[key] = &openAlert{id: stored.ID, rule: stored.Rule, ruleID: stored.RuleID, stream: stored.Stream, signal: stored.Signal, baseline: stored.Baseline}
	}
	s.mu.Unlock()
	if !created {
		return nil
	}
	s.metrics.fired.WithLabelValues(stored.Rule).Inc()
	s.log.Info("alert fired", "alert_id", stored.ID, "rule", stored.Rule, "stream", stored.Stream, "metric", stored.Metric, "label", stored.Label)
	return s.publish(ctx, EventFired, stored)
}

// settle counts, for each open alert of the stream, the rollups its
// condition has been clear, and resolves it after ResolveWindows.
func (s *Service) settle(ctx context.Context, stream string, st *streamState, obs detect.Observation) error {
	threshold := s.cfg.Threshold
	if threshold == 0 {
		threshold = anomaly.DefaultThreshold
	}
	var due []string
	exploding := false
	s.mu.Lock()
	for key, oa := range s.open {
		if oa.stream != stream || oa.ruleID != "" {
			continue
		}
		held := false
		switch oa.rule {
		case apiv1.RuleExplosion:
			v, ok := obs.Values[detect.ActiveSeries]
			held = ok && s.det.Rule().Exploded(oa.baseline, v)
		case apiv1.RuleAnomaly:
			held = obs.Scores[oa.signal] >= threshold
		}
		if held {
			oa.clear = 0
		} else {
			oa.clear++
		}
		if oa.clear >= s.cfg.ResolveWindows {
			due = append(due, key)
			continue
		}
		if oa.rule == apiv1.RuleExplosion {
			exploding = true
		}
	}
	s.mu.Unlock()
	st.exploding = exploding
	if !exploding {
		st.causeMetric, st.causeLabel = "", ""
	}
	var errs []error
	for _, key := range due {
		s.mu.Lock()
		oa := s.open[key]
		s.mu.Unlock()
		if oa == nil {
			continue
		}
		if _, err := s.resolve(ctx, oa.id, ResolvedByAuto); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolve closes an alert, forgets its condition and publishes the change.
func (s *Service) resolve(ctx context.Context, id, by string) (apiv1.Alert, error) {
	a, changed, err := s.store.Resolve(ctx, id, by, s.now())
	if err != nil {
		return a, err
	}
	s.mu.Lock()
	delete(s.open, store.DedupKey(a))
	s.mu.Unlock()
	if !changed {
		return a, nil
	}
	s.metrics.resolved.WithLabelValues(resolvedBy(by)).Inc()
	s.log.Info("alert resolved", "alert_id", a.ID, "resolved_by", by)
	return a, s.publish(ctx, EventResolved, a)
}

func resolvedBy(by string) string {
	if by == ResolvedByAuto {
		return by
	}
	return "user"
}

// publish sends the alert on phoenix.events.alert.<id>; the WebSocket topic
// `alerts` relays it to the alert's team.
// It also queues the event for the team's notification channels.
func (s *Service) publish(ctx context.Context, typ string, a apiv1.Alert) error {
	var errs []error
	if err := s.set.Bus.PublishEvent(ctx, messaging.KindAlert, a.ID, typ, a); err != nil {
		errs = append(errs, fmt.Errorf("alert %s %s: %w", a.ID, typ, err))
	}
	if err := s.notify(ctx, typ, a); err != nil {
		errs = append(errs, fmt.Errorf("notify alert %s %s: %w", a.ID, typ, err))
	}
	return errors.Join(errs...)
}

func fmtCount(v float64) string { return detect.Thousands(int64(math.Round(v))) }
