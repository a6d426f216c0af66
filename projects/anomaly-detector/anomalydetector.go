// Package anomalydetector is the guard's first slice (issue 16): it consumes
// analytics' rollup events from JetStream with a durable consumer, runs one
// anomaly.Ensemble per (stream, signal) over active series, new series per
// minute, dp/s and bytes/s, attributes explosions of active series to the
// metric and label whose distinct values grew (from analytics' cardinality
// breakdowns), and keeps alerts with a lifecycle firing -> acknowledged ->
// resolved, served on /api/v1/alerts and published as alert events. The
// last scored rollups of each stream are served on /api/v1/anomalies.
// Detector state is checkpointed to the database, so a restart resumes.
//
// User alert rules (budgets, explosion, churn, critical signal lost,
// detector severity) are evaluated on each rollup with hysteresis;
// silences mute notifications; channels (webhook, Slack, PagerDuty, Teams)
// receive alert events (docs/alerting.md). Not yet: forecasts, adaptive
// control (docs/anomaly.md).
package anomalydetector

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/store"
)

//go:embed migrations
var migrations embed.FS

// Durable is the JetStream consumer's name: a restarted detector resumes
// after the last rollup it acknowledged.
const Durable = "anomaly-detector"

// Registration is how a runner runs the anomaly detector: its section and
// its tables.
func Registration() service.Registration {
	return service.Registration{
		Name:       config.ServiceAnomalyDetector,
		New:        New,
		Config:     func() config.Section { c := DefaultConfig(); return &c },
		Migrations: migrations,
	}
}

// Service is the anomaly detector.
type Service struct {
	set     service.Settings
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	det     *detect.Detector
	scores  *scoreBook // recent scores per stream (/api/v1/anomalies)
	resp    *service.Responder
	metrics metrics
	now     func() time.Time
	// alerting holds user rules' state, the channel secrets' sealer and
	// the notification dispatcher.
	alerting *alerting

	// Owned by the consumer's callback, which JetStream calls serially.
	streams map[string]*streamState
	// handled counts rollup events fully handled (tests wait on it).
	handled atomic.Int64

	mu   sync.Mutex
	open map[string]*openAlert // dedup key -> open alert (firing or acknowledged)

	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New builds the service; it needs the database and the bus.
func New(s service.Settings) (service.Service, error) { return newService(s) }

func newService(s service.Settings) (*Service, error) {
	if s.Store == nil || s.Bus == nil {
		return nil, errors.New("anomaly-detector: needs a database and the bus")
	}
	cfg := *ConfigFrom(s.Config)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	det, err := detect.New(detect.Settings{
		Signals: cfg.Signals, MaxSeries: cfg.MaxSeries, Anomaly: anomaly.Settings{Threshold: cfg.Threshold},
		WarmupPoints: cfg.WarmupPoints, IdleAfter: cfg.IdleAfter,
		Rule: detect.Rule{Pct: cfg.ExplosionPct, Series: cfg.ExplosionSeries, Windows: cfg.ExplosionWindows},
	})
	if err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	svc := &Service{
		set: s, cfg: cfg, log: logger.With("service", config.ServiceAnomalyDetector), store: store.New(s.Store), det: det,
		scores: newScoreBook(cfg.Signals, cfg.MaxSeries, cfg.Threshold),
		now:    time.Now, streams: map[string]*streamState{}, open: map[string]*openAlert{},
	}
	var reg prometheus.Registerer
	if s.Metrics != nil {
		reg = s.Metrics.Registry
	}
	svc.metrics = newMetrics(reg)
	if err := svc.newAlerting(); err != nil {
		return nil, err
	}
	svc.resp = service.NewResponder(s, config.ServiceAnomalyDetector, svc.health, svc.Operations().Endpoints(config.ServiceAnomalyDetector)...)
	return svc, nil
}

func (s *Service) health(context.Context) (string, string) {
	st := s.det.Stats()
	s.mu.Lock()
	open := len(s.open)
	s.mu.Unlock()
	return service.HealthOK, fmt.Sprintf("%d streams, %d series watched, %d rollups refused, %d open alerts", st.Streams, st.Series, st.Refused, open)
}

// Name is anomaly-detector.
func (s *Service) Name() string { return config.ServiceAnomalyDetector }

// Start restores detector state and open alerts, joins the bus and starts
// consuming rollups.
func (s *Service) Start(ctx context.Context) error {
	saved, err := s.store.LoadSeries(ctx)
	if err != nil {
		return err
	}
	if err := s.det.Restore(saved); err != nil {
		// A corrupt state costs that stream its history, not the service.
		s.log.Warn("detector state not restored; relearning", "error", err)
	}
	open, err := s.store.Open(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, a := range open {
		if len(s.open) < maxOpen {
			s.open[store.DedupKey(a)] = &openAlert{id: a.ID, rule: a.Rule, ruleID: a.RuleID, stream: a.Stream, signal: a.Signal, baseline: a.Baseline}
		}
		if a.RuleID != "" {
			s.alerting.engine.Restore(a.RuleID, a.Stream)
		}
	}
	s.mu.Unlock()
	if err := s.resp.Start(); err != nil {
		return err
	}
	s.alerting.disp.Start()
	cons, err := s.set.Bus.JS.CreateOrUpdateConsumer(ctx, messaging.EventStream, jetstream.ConsumerConfig{
		Durable:       Durable,
		FilterSubject: messaging.EventSubject(messaging.KindRollup, ">"),
		// A new detector starts from now: a day of replayed rollups would
		// raise alerts about the past.
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1000,
	})
	if err != nil {
		s.alerting.disp.Stop()
		_ = s.resp.Stop()
		return fmt.Errorf("rollup consumer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.cc, err = cons.Consume(func(m jetstream.Msg) { s.handle(runCtx, m) })
	if err != nil {
		cancel()
		s.alerting.disp.Stop()
		_ = s.resp.Stop()
		return fmt.Errorf("consume rollups: %w", err)
	}
	s.wg.Add(1)
	go s.checkpointLoop(runCtx)
	s.log.Info("anomaly detector started", "streams", s.det.Stats().Streams, "open_alerts", len(open))
	return nil
}

// Shutdown stops consuming, saves detector state and leaves the bus;
// idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if s.cc != nil {
			// Drain lets the rollup being handled finish before the
			// checkpoint below.
			s.cc.Drain()
			select {
			case <-s.cc.Closed():
			case <-ctx.Done():
			}
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		// Notifications still queued are dropped; their deliveries stay
		// pending in the API.
		s.alerting.disp.Stop()
		err = errors.Join(s.checkpoint(ctx), s.resp.Stop())
	})
	return err
}

// checkpointLoop saves changed detector state every CheckpointInterval.
func (s *Service) checkpointLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("checkpoint detector state failed", "error", err)
			}
		}
	}
}

// checkpoint writes every series changed since the last one.
func (s *Service) checkpoint(ctx context.Context) error {
	snap, err := s.det.Snapshot()
	if err != nil {
		return err
	}
	if err := s.store.SaveSeries(ctx, snap); err != nil {
		return err
	}
	s.det.MarkSaved(snap)
	return nil
}

// Checkpoint saves detector state now (tests, and before a planned stop).
func (s *Service) Checkpoint(ctx context.Context) error { return s.checkpoint(ctx) }

// Points is how many rollups the (stream, signal) ensemble has seen.
func (s *Service) Points(stream, signal string) int64 { return s.det.Points(stream, signal) }

type metrics struct {
	rollups, refused, bad prometheus.Counter
	fired, resolved       *prometheus.CounterVec
	deliveries            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		rollups: prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_anomaly_rollups_total", Help: "Rollups observed by the anomaly detector."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_anomaly_rollups_refused_total",
			Help: "Rollups of streams not watched because anomaly-detector.max_series was reached."}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_anomaly_events_malformed_total", Help: "Rollup events that could not be decoded."}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_anomaly_alerts_fired_total",
			Help: "Alerts opened, by rule."}, []string{"rule"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_anomaly_alerts_resolved_total",
			Help: "Alerts resolved, by who (auto or a user)."}, []string{"by"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phoenix_anomaly_notifications_total",
			Help: "Notification delivery status changes, by status (pending, delivered, failed, silenced)."}, []string{"status"}),
	}
	if reg == nil {
		return m
	}
	// A restarted service on the same registry shares the collectors.
	register := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return are.ExistingCollector
			}
			slog.Default().Warn("register anomaly-detector metric", "error", err)
		}
		return c
	}
	m.rollups = register(m.rollups).(prometheus.Counter)
	m.refused = register(m.refused).(prometheus.Counter)
	m.bad = register(m.bad).(prometheus.Counter)
	m.fired = register(m.fired).(*prometheus.CounterVec)
	m.resolved = register(m.resolved).(*prometheus.CounterVec)
	m.deliveries = register(m.deliveries).(*prometheus.CounterVec)
	return m
}
