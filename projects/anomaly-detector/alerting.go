package anomalydetector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/secrets"
	"github.com/phoenix-platform/phoenix/pkg/ssrf"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/notify"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/rules"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

// Bounds of the alerting tables read per rollup or per alert event.
const (
	maxRules    = 1000 // rules evaluated; more are not loaded (logged)
	maxChannels = 200  // channels of one team notified
	maxSilences = 500  // silences of one team in force at once
)

// privateRanges are what a channel with allow_private may reach besides the
// public internet: loopback and RFC 1918 / ULA ranges. Link-local (cloud
// metadata at 169.254.169.254) stays refused.
var privateRanges = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// notifyTimeout bounds one HTTP post to a channel.
const notifyTimeout = 10 * time.Second

// alerting is the service's rules, silences and channels machinery.
type alerting struct {
	engine  *rules.Engine
	sealer  *secrets.Sealer
	disp    *notify.Dispatcher
	strict  *http.Client // public addresses (and auth.ssrf_allow_cidrs)
	private *http.Client // plus private ranges, for allow_private channels

	mu       sync.Mutex
	rules    []apiv1.AlertRule
	loadedAt time.Time
	stale    bool
}

// ruleCacheTTL: rules are re-read this often (another replica may have
// changed them) and at once after a change through this one.
const ruleCacheTTL = 10 * time.Second

func (s *Service) newAlerting() error {
	sealer, err := secrets.SealerFromConfig(s.set.Config)
	if err != nil {
		return fmt.Errorf("anomaly-detector: channel secrets: %w", err)
	}
	strictGuard, err := ssrf.New(s.set.Config.Auth.SSRFAllowCIDRs)
	if err != nil {
		return fmt.Errorf("anomaly-detector: %w", err)
	}
	privGuard, err := ssrf.New(append(slices.Clone(s.set.Config.Auth.SSRFAllowCIDRs), privateRanges...))
	if err != nil {
		return fmt.Errorf("anomaly-detector: %w", err)
	}
	al := &alerting{
		engine: rules.New(rules.Settings{Hysteresis: s.cfg.Hysteresis / 100, ClearWindows: s.cfg.ResolveWindows}),
		sealer: sealer, strict: strictGuard.Client(notifyTimeout), private: privGuard.Client(notifyTimeout), stale: true,
	}
	al.disp = notify.NewDispatcher(notify.Settings{
		Queue: s.cfg.NotifyQueue, Attempts: s.cfg.NotifyAttempts, Backoff: s.cfg.NotifyBackoff, Logger: s.log, Now: s.now,
		Client: al.client,
		Report: func(d apiv1.Delivery) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.store.SaveDelivery(ctx, d); err != nil {
				s.log.Warn("record delivery failed", "alert_id", d.AlertID, "channel_id", d.ChannelID, "error", err)
			}
			s.metrics.deliveries.WithLabelValues(d.Status).Inc()
		},
	})
	s.alerting = al
	return nil
}

func (al *alerting) client(ch apiv1.Channel) *http.Client {
	if ch.AllowPrivate {
		return al.private
	}
	return al.strict
}

// invalidate makes the next rollup re-read the rules.
func (al *alerting) invalidate() {
	al.mu.Lock()
	al.stale = true
	al.mu.Unlock()
}

// activeRules returns every rule, from a cache refreshed every
// ruleCacheTTL or after a change.
func (s *Service) activeRules(ctx context.Context) ([]apiv1.AlertRule, error) {
	al := s.alerting
	al.mu.Lock()
	defer al.mu.Unlock()
	if !al.stale && s.now().Sub(al.loadedAt) < ruleCacheTTL {
		return al.rules, nil
	}
	rs, err := s.store.ListRules(ctx, nil, nil, "", maxRules+1)
	if err != nil {
		return al.rules, err
	}
	if len(rs) > maxRules {
		s.log.Warn("too many alert rules; the newest are not evaluated", "max_rules", maxRules)
		rs = rs[:maxRules]
	}
	al.rules, al.loadedAt, al.stale = rs, s.now(), false
	return rs, nil
}

// evaluateRules runs the user rules that apply to the rollup's stream and
// fires, updates or resolves their alerts.
func (s *Service) evaluateRules(ctx context.Context, r apiv1.Rollup, st *streamState, obs detect.Observation) error {
	all, err := s.activeRules(ctx)
	if err != nil {
		return err
	}
	var applicable []apiv1.AlertRule
	models := map[string]bool{}
	for _, rule := range all {
		if rules.Applies(rule, r.Stream, st.team) {
			applicable = append(applicable, rule)
			if rule.Kind == apiv1.RuleMaxMonthlyCost {
				models[rule.PriceModel] = true
			}
		}
	}
	if len(applicable) == 0 {
		return nil
	}
	in := rules.Input{Stream: r.Stream, Values: obs.Values, Scores: obs.Scores, MetricSeries: r.MetricSeries,
		Exploding: st.exploding, ExplodeMetric: st.causeMetric, ExplodeLabel: st.causeLabel}
	var errs []error
	if len(models) > 0 {
		in.MonthlyCost = map[string]float64{}
		for m := range models {
			var rep apiv1.CostReport
			if err := s.set.Bus.Request(ctx, apiv1.SubjectAnalyticsCost, apiv1.CostRequest{Stream: r.Stream, Model: m}, &rep); err != nil {
				errs = append(errs, fmt.Errorf("cost of %s under %s: %w", r.Stream, m, err))
				continue
			}
			in.Currency = rep.Catalog.Currency
			for _, mc := range rep.Models {
				if mc.Model == m && mc.MonthlyCost != nil {
					in.MonthlyCost[m] = *mc.MonthlyCost
				}
			}
		}
	}
	for _, res := range s.alerting.engine.Evaluate(applicable, in, r.End) {
		a := apiv1.Alert{Rule: res.Rule.Kind, RuleID: res.Rule.ID, Severity: res.Rule.Severity, Stream: r.Stream, Team: res.Rule.Team,
			Metric: res.Metric, Label: res.Label, Signal: res.Rule.Signal, Value: res.Value, Baseline: res.Rule.Threshold, Summary: res.Summary}
		switch res.Change {
		case rules.Fired, rules.Held:
			errs = append(errs, s.fire(ctx, a))
		case rules.Resolved:
			s.mu.Lock()
			oa := s.open[store.DedupKey(a)]
			s.mu.Unlock()
			if oa != nil {
				if _, err := s.resolve(ctx, oa.id, ResolvedByAuto); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// silenceFor returns the first silence of a's team in force now that
// matches a, or "".
func (s *Service) silenceFor(ctx context.Context, a apiv1.Alert) (string, error) {
	sis, err := s.store.ListSilences(ctx, []string{a.Team}, s.now(), "", maxSilences)
	if err != nil {
		return "", err
	}
	for _, si := range sis {
		if silenceMatches(si, a) {
			return si.ID, nil
		}
	}
	return "", nil
}

// silenceMatches: every non-empty matcher field equals the alert's; rule
// matches the alert's kind or its rule id.
func silenceMatches(si apiv1.Silence, a apiv1.Alert) bool {
	return (si.Stream == "" || si.Stream == a.Stream) &&
		(si.Rule == "" || si.Rule == a.Rule || (a.RuleID != "" && si.Rule == a.RuleID)) &&
		(si.Severity == "" || si.Severity == a.Severity)
}

// routes reports whether channel c takes alert a.
func routes(c apiv1.Channel, a apiv1.Alert) bool {
	return (len(c.Severities) == 0 || slices.Contains(c.Severities, a.Severity)) &&
		(len(c.Streams) == 0 || slices.Contains(c.Streams, a.Stream))
}

// notify queues alert event typ for every channel of a's team that routes
// it; a silenced alert's deliveries are recorded as silenced instead.
func (s *Service) notify(ctx context.Context, typ string, a apiv1.Alert) error {
	chans, err := s.store.ListChannels(ctx, []string{a.Team}, "", maxChannels)
	if err != nil || len(chans) == 0 {
		return err
	}
	silenced := a.SilencedBy
	if silenced == "" {
		if silenced, err = s.silenceFor(ctx, a); err != nil {
			return err
		}
	}
	var errs []error
	for _, c := range chans {
		if !routes(c.Channel, a) {
			continue
		}
		if silenced != "" {
			errs = append(errs, s.store.SaveDelivery(ctx, apiv1.Delivery{AlertID: a.ID, ChannelID: c.ID, Event: typ,
				Status: apiv1.DeliverySilenced, Error: "silenced by " + silenced, UpdatedAt: s.now().UTC()}))
			continue
		}
		secret, err := s.openSecret(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.alerting.disp.Enqueue(notify.Job{Channel: c.Channel, Secret: secret,
			Notification: apiv1.Notification{Event: typ, Alert: a, Channel: c.ID, SentAt: s.now().UTC()}})
	}
	return errors.Join(errs...)
}

func (s *Service) openSecret(c store.SealedChannel) ([]byte, error) {
	if c.Sealed == "" {
		return nil, nil
	}
	b, err := s.alerting.sealer.Open(c.Sealed, "channel:"+c.ID)
	if err != nil {
		return nil, fmt.Errorf("channel %s secret: %w", c.ID, err)
	}
	return b, nil
}
