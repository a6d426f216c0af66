package anomalydetector

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/ssrf"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/notify"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

// alertingOperations are the rules, budgets, silences and channels
// operations (api/openapi.yaml). Viewers read; operators and admins write
// (the gateway checks x-phoenix-role; MayWrite repeats it for callers on
// the bus); every object belongs to a team and another team's is 404.
func (s *Service) alertingOperations() apiv1.Operations {
	return apiv1.Operations{
		"listAlertRules":      apiv1.ListOf(s.fetchRules, func(r apiv1.AlertRule) string { return r.ID }),
		"createAlertRule":     s.createRule,
		"getAlertRule":        s.getRule,
		"deleteAlertRule":     s.deleteRule,
		"listBudgets":         apiv1.ListOf(s.fetchBudgets, func(b apiv1.Budget) string { return b.Rule.ID }),
		"listSilences":        apiv1.ListOf(s.fetchSilences, func(si apiv1.Silence) string { return si.ID }),
		"createSilence":       s.createSilence,
		"deleteSilence":       s.deleteSilence,
		"listChannels":        apiv1.ListOf(s.fetchChannels, func(c apiv1.Channel) string { return c.ID }),
		"createChannel":       s.createChannel,
		"getChannel":          s.getChannel,
		"deleteChannel":       s.deleteChannel,
		"testChannel":         s.testChannel,
		"listAlertDeliveries": s.listDeliveries,
	}
}

// callerTeams is nil (every team) for admins, else the caller's teams.
func callerTeams(p apiv1.Principal) []string {
	if p.Admin() {
		return nil
	}
	return append([]string{}, p.Teams...)
}

var (
	streamID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(--[A-Za-z0-9_-]{1,64})?$`)
	token    = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

var severities = []string{apiv1.SeverityCritical, apiv1.SeverityHigh, apiv1.SeverityMedium, apiv1.SeverityLow}

func checkName(errs []problem.FieldError, path, v string) []problem.FieldError {
	if strings.TrimSpace(v) == "" || len(v) > 100 {
		errs = append(errs, problem.FieldError{Path: path, Message: "is required, at most 100 characters"})
	}
	return errs
}

func checkStream(errs []problem.FieldError, path, v string) []problem.FieldError {
	if v != "" && !streamID.MatchString(v) {
		errs = append(errs, problem.FieldError{Path: path, Message: "must be a stream id (^[A-Za-z0-9_-]{1,64}$, or <experiment>--<variant>)"})
	}
	return errs
}

func checkSeverity(errs []problem.FieldError, path, v string) []problem.FieldError {
	if v != "" && !slices.Contains(severities, v) {
		errs = append(errs, problem.FieldError{Path: path, Message: "must be critical, high, medium or low"})
	}
	return errs
}

// validateRule reports every problem of in at once.
func validateRule(in apiv1.AlertRuleInput) []problem.FieldError {
	var errs []problem.FieldError
	errs = checkName(errs, "name", in.Name)
	errs = checkStream(errs, "stream", in.Stream)
	errs = checkSeverity(errs, "severity", in.Severity)
	switch in.Kind {
	case apiv1.RuleMaxActiveSeries, apiv1.RuleChurn, apiv1.RuleMaxMonthlyCost:
		if in.Threshold <= 0 {
			errs = append(errs, problem.FieldError{Path: "threshold", Message: "must be positive for " + in.Kind})
		}
		if in.Kind == apiv1.RuleMaxMonthlyCost && !token.MatchString(in.PriceModel) {
			errs = append(errs, problem.FieldError{Path: "price_model", Message: "is required for max_monthly_cost (a model of the price catalog, e.g. datadog)"})
		}
	case apiv1.RuleDetectorSeverity:
		if in.Threshold <= 0 || in.Threshold > 1 {
			errs = append(errs, problem.FieldError{Path: "threshold", Message: "must be a detector score in (0, 1] for detector_severity"})
		}
		if !slices.Contains(AllSignals, in.Signal) {
			errs = append(errs, problem.FieldError{Path: "signal", Message: "must be one of " + strings.Join(AllSignals, ", ")})
		}
	case apiv1.RuleCriticalSignalLost:
		if in.Metric == "" || len(in.Metric) > 255 {
			errs = append(errs, problem.FieldError{Path: "metric", Message: "is required for critical_signal_lost (the metric name as the stream carries it)"})
		}
	case apiv1.RuleExplosion:
	default:
		errs = append(errs, problem.FieldError{Path: "kind", Message: "must be one of " + strings.Join(apiv1.RuleKinds, ", ")})
	}
	return errs
}

func (s *Service) fetchRules(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.AlertRule, error) {
	return s.store.ListRules(ctx, callerTeams(req.Principal), nil, cursor, n)
}

func (s *Service) createRule(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("alert rules"); err != nil {
		return nil, err
	}
	var in apiv1.AlertRuleInput
	if err := req.DecodeBody(&in); err != nil {
		return nil, err
	}
	if errs := validateRule(in); len(errs) > 0 {
		return nil, problem.BadRequest("invalid alert rule", errs...)
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "an alert rule")
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	r := apiv1.AlertRule{ID: store.NewObjectID("ar", now), Name: in.Name, Team: team, Stream: in.Stream, Kind: in.Kind,
		Severity: cmpOr(in.Severity, apiv1.SeverityHigh), Threshold: in.Threshold, PriceModel: in.PriceModel, Metric: in.Metric,
		Signal: in.Signal, CreatedAt: now.Truncate(time.Millisecond), CreatedBy: req.Principal.Subject}
	if err := s.store.CreateRule(ctx, r); err != nil {
		return nil, err
	}
	s.alerting.invalidate()
	s.log.Info("alert rule created", "rule_id", r.ID, "kind", r.Kind, "team", r.Team)
	return messaging.StatusReply{Status: http.StatusCreated, Body: r}, nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (s *Service) visibleRule(ctx context.Context, req *apiv1.Request) (apiv1.AlertRule, error) {
	id := req.Params["id"]
	r, err := s.store.GetRule(ctx, id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && !req.Principal.InTeam(r.Team)) {
		return apiv1.AlertRule{}, problem.NotFound("alert rule %s not found", id)
	}
	return r, err
}

func (s *Service) getRule(ctx context.Context, req *apiv1.Request) (any, error) {
	return s.visibleRule(ctx, req)
}

func (s *Service) deleteRule(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("alert rules"); err != nil {
		return nil, err
	}
	r, err := s.visibleRule(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteRule(ctx, r.ID); err != nil {
		return nil, err
	}
	s.alerting.invalidate()
	s.alerting.engine.Forget(r.ID)
	// The rule's open alerts would never be evaluated again: resolve them.
	open, err := s.store.List(ctx, store.Filter{RuleID: r.ID, State: apiv1.AlertFiring}, "", maxOpen)
	if err == nil {
		acked, _ := s.store.List(ctx, store.Filter{RuleID: r.ID, State: apiv1.AlertAcknowledged}, "", maxOpen)
		for _, a := range append(open, acked...) {
			if _, err := s.resolve(ctx, a.ID, req.Principal.Subject); err != nil {
				s.log.Warn("resolve alert of deleted rule failed", "alert_id", a.ID, "error", err)
			}
		}
	}
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

// budgetKinds are the rule kinds /api/v1/budgets shows.
var budgetKinds = []string{apiv1.RuleMaxActiveSeries, apiv1.RuleMaxMonthlyCost}

func (s *Service) fetchBudgets(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Budget, error) {
	rs, err := s.store.ListRules(ctx, callerTeams(req.Principal), budgetKinds, cursor, n)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.Budget, 0, len(rs))
	for _, r := range rs {
		b := apiv1.Budget{Rule: r, Streams: []apiv1.BudgetUsage{}}
		for _, u := range s.alerting.engine.Usage(r.ID) {
			b.Streams = append(b.Streams, apiv1.BudgetUsage{Stream: u.Stream, Value: u.Value, Used: u.Value / r.Threshold,
				Exceeded: u.Firing, EvaluatedAt: u.At.UTC()})
		}
		slices.SortFunc(b.Streams, func(x, y apiv1.BudgetUsage) int { return strings.Compare(x.Stream, y.Stream) })
		out = append(out, b)
	}
	return out, nil
}

// maxSilenceDuration bounds a silence: a forgotten one must not mute a team
// for ever.
const maxSilenceDuration = 90 * 24 * time.Hour

func (s *Service) fetchSilences(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Silence, error) {
	var at time.Time
	if req.Query.Get("active") == "true" {
		at = s.now()
	}
	return s.store.ListSilences(ctx, callerTeams(req.Principal), at, cursor, n)
}

func (s *Service) createSilence(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("silences"); err != nil {
		return nil, err
	}
	var in apiv1.SilenceInput
	if err := req.DecodeBody(&in); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	var errs []problem.FieldError
	errs = checkStream(errs, "stream", in.Stream)
	errs = checkSeverity(errs, "severity", in.Severity)
	if in.Rule != "" && !token.MatchString(in.Rule) {
		errs = append(errs, problem.FieldError{Path: "rule", Message: "must be a rule kind or a rule id"})
	}
	if len(in.Comment) > 500 {
		errs = append(errs, problem.FieldError{Path: "comment", Message: "at most 500 characters"})
	}
	start := now
	if in.StartsAt != nil {
		start = in.StartsAt.UTC().Truncate(time.Millisecond)
	}
	var end time.Time
	switch {
	case in.EndsAt != nil && in.Duration != "":
		errs = append(errs, problem.FieldError{Path: "duration", Message: "give ends_at or duration, not both"})
	case in.EndsAt != nil:
		end = in.EndsAt.UTC().Truncate(time.Millisecond)
	case in.Duration != "":
		d, err := time.ParseDuration(in.Duration)
		if err != nil || d <= 0 {
			errs = append(errs, problem.FieldError{Path: "duration", Message: "must be a positive Go duration (2h, 30m)"})
		}
		end = start.Add(d)
	default:
		errs = append(errs, problem.FieldError{Path: "ends_at", Message: "ends_at or duration is required"})
	}
	if !end.IsZero() && (!end.After(start) || end.Sub(start) > maxSilenceDuration || !end.After(now)) {
		errs = append(errs, problem.FieldError{Path: "ends_at", Message: "must be after starts_at and now, at most 90 days after starts_at"})
	}
	if len(errs) > 0 {
		return nil, problem.BadRequest("invalid silence", errs...)
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "a silence")
	if err != nil {
		return nil, err
	}
	si := apiv1.Silence{ID: store.NewObjectID("si", now), Team: team, Stream: in.Stream, Rule: in.Rule, Severity: in.Severity,
		StartsAt: start, EndsAt: end, Comment: in.Comment, CreatedAt: now, CreatedBy: req.Principal.Subject}
	if err := s.store.CreateSilence(ctx, si); err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: http.StatusCreated, Body: si}, nil
}

func (s *Service) deleteSilence(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("silences"); err != nil {
		return nil, err
	}
	id := req.Params["id"]
	si, err := s.store.GetSilence(ctx, id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && !req.Principal.InTeam(si.Team)) {
		return nil, problem.NotFound("silence %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteSilence(ctx, id); err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

func (s *Service) fetchChannels(ctx context.Context, req *apiv1.Request, cursor string, n int) ([]apiv1.Channel, error) {
	cs, err := s.store.ListChannels(ctx, callerTeams(req.Principal), cursor, n)
	out := make([]apiv1.Channel, len(cs))
	for i, c := range cs {
		out[i] = c.Channel
	}
	return out, err
}

// validateChannel reports every problem of in at once.
func validateChannel(in apiv1.ChannelInput) []problem.FieldError {
	var errs []problem.FieldError
	errs = checkName(errs, "name", in.Name)
	if !slices.Contains(apiv1.ChannelTypes, in.Type) {
		errs = append(errs, problem.FieldError{Path: "type", Message: "must be one of " + strings.Join(apiv1.ChannelTypes, ", ")})
	}
	switch {
	case in.URL == "" && in.Type == apiv1.ChannelPagerDuty:
	case len(in.URL) > 2048:
		errs = append(errs, problem.FieldError{Path: "url", Message: "at most 2048 characters"})
	default:
		if err := ssrf.CheckURL(in.URL); err != nil {
			errs = append(errs, problem.FieldError{Path: "url", Message: err.Error()})
		}
	}
	if in.Type == apiv1.ChannelPagerDuty && in.Secret == "" {
		errs = append(errs, problem.FieldError{Path: "secret", Message: "is required for pagerduty: the integration's routing key"})
	}
	if len(in.Secret) > 1024 {
		errs = append(errs, problem.FieldError{Path: "secret", Message: "at most 1024 characters"})
	}
	for i, sev := range in.Severities {
		errs = checkSeverity(errs, "severities["+itoa(i)+"]", cmpOr(sev, "?"))
	}
	if len(in.Streams) > 100 {
		errs = append(errs, problem.FieldError{Path: "streams", Message: "at most 100 streams"})
	}
	for i, st := range in.Streams {
		errs = checkStream(errs, "streams["+itoa(i)+"]", cmpOr(st, "?"))
	}
	return errs
}

func itoa(i int) string { return strconv.Itoa(i) }

func (s *Service) createChannel(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("channels"); err != nil {
		return nil, err
	}
	var in apiv1.ChannelInput
	if err := req.DecodeBody(&in); err != nil {
		return nil, err
	}
	if errs := validateChannel(in); len(errs) > 0 {
		return nil, problem.BadRequest("invalid channel", errs...)
	}
	if in.AllowPrivate && !req.Principal.Admin() {
		return nil, problem.Forbidden("allow_private needs the admin role: it lets the channel reach internal addresses")
	}
	team, err := req.Principal.OwnerTeam(req.Query.Get("team"), "a channel")
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	c := store.SealedChannel{Channel: apiv1.Channel{ID: store.NewObjectID("ch", now), Name: in.Name, Team: team, Type: in.Type, URL: in.URL,
		Severities: nonNil(in.Severities), Streams: nonNil(in.Streams), AllowPrivate: in.AllowPrivate, CreatedAt: now, CreatedBy: req.Principal.Subject}}
	if in.Type == apiv1.ChannelPagerDuty && c.URL == "" {
		c.URL = apiv1.PagerDutyEventsURL
	}
	if in.Secret != "" {
		if c.Sealed, err = s.alerting.sealer.Seal([]byte(in.Secret), "channel:"+c.ID); err != nil {
			return nil, err
		}
		c.HasSecret = true
	}
	if err := s.store.CreateChannel(ctx, c); err != nil {
		return nil, err
	}
	s.log.Info("channel created", "channel_id", c.ID, "type", c.Type, "team", c.Team)
	return messaging.StatusReply{Status: http.StatusCreated, Body: c.Channel}, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (s *Service) visibleChannel(ctx context.Context, req *apiv1.Request) (store.SealedChannel, error) {
	id := req.Params["id"]
	c, err := s.store.GetChannel(ctx, id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && !req.Principal.InTeam(c.Team)) {
		return store.SealedChannel{}, problem.NotFound("channel %s not found", id)
	}
	return c, err
}

func (s *Service) getChannel(ctx context.Context, req *apiv1.Request) (any, error) {
	c, err := s.visibleChannel(ctx, req)
	return c.Channel, err
}

func (s *Service) deleteChannel(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("channels"); err != nil {
		return nil, err
	}
	c, err := s.visibleChannel(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteChannel(ctx, c.ID); err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: http.StatusNoContent}, nil
}

// testChannel sends a synthetic alert to the channel once, now, and answers
// the delivery (200 whether or not the receiver accepted it: the status
// says).
func (s *Service) testChannel(ctx context.Context, req *apiv1.Request) (any, error) {
	if err := req.Principal.MayWrite("channels"); err != nil {
		return nil, err
	}
	c, err := s.visibleChannel(ctx, req)
	if err != nil {
		return nil, err
	}
	secret, err := s.openSecret(c)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	a := apiv1.Alert{ID: "test-" + c.ID, Rule: "test", Severity: apiv1.SeverityLow, State: apiv1.AlertFiring, Stream: "test", Team: c.Team,
		Summary: "Test notification from Phoenix for channel " + c.Name, Group: "test/test", StartedAt: now, UpdatedAt: now}
	del := s.alerting.disp.Deliver(ctx, notify.Job{Channel: c.Channel, Secret: secret,
		Notification: apiv1.Notification{Event: "test", Alert: a, Channel: c.ID, SentAt: now}}, 1)
	return del, nil
}

func (s *Service) listDeliveries(ctx context.Context, req *apiv1.Request) (any, error) {
	a, err := s.visibleAlert(ctx, req)
	if err != nil {
		return nil, err
	}
	ds, err := s.store.Deliveries(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return apiv1.List[apiv1.Delivery]{Items: ds}, nil
}
