// Package server assembles the analytics service: ingest listeners (OTLP
// HTTP and remote write on one port, OTLP gRPC on another), the
// cardinality tracker, the rollup loop with its store and events, and the
// NATS endpoints behind the REST routes.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cost"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/fidelity"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/ingest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/rollup"
)

// Service is the analytics service.
type Service struct {
	set     service.Settings
	cfg     Config
	log     *slog.Logger
	tracker *cardinality.Tracker
	ranks   *cardinality.RankHistory // sampled on the rollup tick, for top-K estimates
	watch   *fidelity.Watcher        // compared aggregates, evaluated on the rollup tick
	ingest  *ingest.Server
	catalog *cost.Catalog
	store   *rollup.Store // nil without a database
	resp    *service.Responder
	reports reportCache
	snaps   snapCache

	// rollupMu serialises rollup passes (the loop and RollupNow); quiet
	// holds the streams whose last stored rollup was all zero, one entry
	// per tracked stream at most.
	rollupMu sync.Mutex
	quiet    map[string]bool

	httpSrv *httpx.Server
	grpcSrv *grpc.Server
	grpcLn  net.Listener
	grpcErr chan error

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	started  bool
}

// New builds the service from the shared settings.
func New(s service.Settings) (*Service, error) {
	cfg := *ConfigFrom(s.Config)
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	catalog, err := cost.Load(s.Config.PriceCatalog)
	if err != nil {
		return nil, err
	}
	tr := cardinality.New(cardinality.Limits{
		MaxStreams: cfg.MaxStreams, ExactSeriesPerStream: cfg.ExactSeriesPerStream, MaxSeriesTotal: cfg.MaxSeries,
		MaxMetricsPerStream: cfg.MaxMetricsPerStream, Staleness: cfg.StalenessWindow,
		TeamQuota: cardinality.TeamQuota{MaxStreams: cfg.TeamMaxStreams, MaxSeries: cfg.TeamMaxSeries, MaxDatapointsPerSecond: cfg.TeamMaxDatapointsPerSecond}, TeamQuotas: teamQuotas(cfg.TeamQuotas),
	}, nil)
	var auth ingest.Authenticator
	if !s.Config.Auth.IngestOpen && s.Bus != nil {
		// Tokens are resolved by platform-api (apiv1.SubjectAuthenticate,
		// scope "ingest"); answers are cached for at most a second.
		auth = ingest.NewBusAuth(s.Bus, time.Second)
	}
	svc := &Service{set: s, cfg: cfg, log: log, tracker: tr, catalog: catalog,
		ranks: cardinality.NewRankHistory(cardinality.DefaultHistoryLimits(cfg.StalenessWindow)),
		watch: fidelity.NewWatcher(fidelity.DefaultWatchLimits())}
	var reg prometheus.Registerer // stays a nil interface without metrics
	if s.Metrics != nil {
		reg = s.Metrics.Registry
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phoenix_analytics_aggregate_watches", Help: "Compared aggregates evaluated per window, per stream."},
				func() float64 { return float64(svc.watch.Len()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "phoenix_analytics_aggregate_watches_refused_total", Help: "Compared aggregates not evaluated per window for the watch limits (in all, or per caller)."},
				func() float64 {
					var n int64
					for _, v := range svc.watch.Refused() {
						n += v
					}
					return float64(n)
				}),
		)
	}
	svc.ingest = ingest.New(ingest.Config{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxInflightBytes: cfg.MaxInflightBytes, MemoryLimitBytes: cfg.MemoryLimitBytes, Auth: auth,
		Limits: otlpwire.Limits{MaxNameBytes: cfg.MaxMetricNameBytes, MaxLabelNameBytes: cfg.MaxLabelNameBytes,
			MaxLabelValueBytes: cfg.MaxLabelValueBytes, MaxLabels: cfg.MaxLabelsPerSeries},
	}, tr, reg, svc.log)
	svc.resp = service.NewResponder(s, config.ServiceAnalytics, svc.health, append(svc.endpoints(), svc.Operations().Endpoints(config.ServiceAnalytics)...)...)
	return svc, nil
}

// Name implements service.Service.
func (s *Service) Name() string { return config.ServiceAnalytics }

// Tracker exposes the tracker (tests).
func (s *Service) Tracker() *cardinality.Tracker { return s.tracker }

// HTTPAddr and GRPCAddr are the bound ingest addresses (after Start).
func (s *Service) HTTPAddr() string { return s.httpSrv.Addr() }

// GRPCAddr is the bound gRPC address.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Start opens the store, the listeners and the NATS endpoints, and starts
// the rollup loop. ctx bounds start-up only.
func (s *Service) Start(ctx context.Context) error {
	if s.set.Store != nil {
		st, err := rollup.Open(ctx, s.set.Store)
		if err != nil {
			return err
		}
		s.store = st
	}
	mux := http.NewServeMux()
	ih := s.ingest.Handler()
	mux.Handle("/v1/metrics", ih)
	mux.Handle("/api/v1/write", ih)
	if s.set.Metrics != nil {
		mux.Handle("GET /metrics", s.set.Metrics.Handler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	hs, err := httpx.Listen(s.set.Config.Analytics.OTLPHTTPAddr, mux, s.log)
	if err != nil {
		return fmt.Errorf("analytics otlp http: %w", err)
	}
	gl, err := net.Listen("tcp", s.set.Config.Analytics.OTLPGRPCAddr)
	if err != nil {
		_ = hs.Shutdown(ctx)
		return fmt.Errorf("analytics otlp grpc: listen on %s: %w", s.set.Config.Analytics.OTLPGRPCAddr, err)
	}
	s.httpSrv, s.grpcLn = hs, gl
	s.grpcSrv = s.ingest.GRPCServer()
	s.grpcErr = make(chan error, 1)
	if err := s.resp.Start(); err != nil {
		_ = hs.Shutdown(ctx)
		_ = gl.Close()
		return err
	}
	s.ingest.Start()
	hs.Start()
	go func() { s.grpcErr <- s.grpcSrv.Serve(gl) }()
	loopCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.rollupLoop(loopCtx)
	}()
	s.started = true
	s.log.Info("analytics ingest listening", "otlp_http_addr", hs.Addr(), "otlp_grpc_addr", gl.Addr().String(),
		"ingest_open", s.ingestOpen())
	return nil
}

func (s *Service) ingestOpen() bool { return s.set.Config.Auth.IngestOpen || s.set.Bus == nil }

// Shutdown stops everything; idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		errs = append(errs, s.resp.Stop())
		if !s.started {
			return
		}
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop otlp http: %w", err))
		}
		done := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpcSrv.Stop()
			<-done
		}
		if err := <-s.grpcErr; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errs = append(errs, fmt.Errorf("otlp grpc: %w", err))
		}
		s.cancel()
		s.wg.Wait()
		s.ingest.Stop()
	})
	return errors.Join(errs...)
}

func (s *Service) health(context.Context) (string, string) {
	if s.ingest.UnderPressure() {
		return service.HealthDegraded, "ingest is over its memory limit and refusing data"
	}
	return service.HealthOK, ""
}

// rollupLoop closes every stream's interval each RollupInterval, stores
// the rollups, publishes them, forgets idle streams, and compacts the store
// every hundred intervals.
func (s *Service) rollupLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RollupInterval)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.rollupOnce(ctx, now)
			ticks++
			if ticks%100 == 0 && s.store != nil {
				if err := s.store.Compact(ctx, now, s.cfg.RollupInterval, s.cfg.RollupRetention, s.cfg.DownsampleInterval, s.cfg.DownsampleRetention); err != nil && ctx.Err() == nil {
					s.log.Warn("rollup compaction failed", "error", err)
				}
			}
		}
	}
}

// idleStream is how long a stream with no active series is kept.
const idleStream = time.Hour

// rollupOnce closes every stream's interval and stores and publishes the
// rollups. A quiet stream (nothing arrived, no active series left) writes
// one all-zero rollup, then none until data arrives again: idle streams,
// kept for an hour, would otherwise write a row per stream per interval
// (issue 14 §2 measured 1.5 GB/hour from 989 idle streams). Only all-zero
// rows are skipped, so no figure is lost: readers count the time after a
// quiet row as zero (windowVolume).
func (s *Service) rollupOnce(ctx context.Context, now time.Time) []apiv1.Rollup {
	s.rollupMu.Lock()
	defer s.rollupMu.Unlock()
	var out []apiv1.Rollup
	streams := s.tracker.Streams()
	quiet := make(map[string]bool, len(streams))
	// The rank history reads only the rank metrics' series, once per tick.
	s.ranks.Sample(now, streams)
	// Watched aggregates read only their metrics' series, once per stream.
	s.watch.Sample(now, streams)
	for _, st := range streams {
		r := st.Rollup(now)
		if r.ActiveSeries == 0 && r.Datapoints == 0 && now.Sub(st.LastSeen()) > idleStream {
			s.tracker.Remove(st.Name())
		}
		wasQuiet := s.quiet[st.Name()]
		if r.Datapoints == 0 && r.ActiveSeries == 0 {
			quiet[st.Name()] = true
			if wasQuiet {
				continue
			}
		}
		out = append(out, r)
	}
	s.quiet = quiet // only the streams still tracked: bounded by the tracker
	if s.store != nil && len(out) > 0 {
		if err := s.store.Save(ctx, s.cfg.RollupInterval, out...); err != nil && ctx.Err() == nil {
			s.log.Warn("store rollups failed", "error", err)
		}
	}
	if s.set.Bus != nil {
		for _, r := range out {
			ev := r
			ev.HLL = nil // the sketch stays in the store; events stay small
			if err := s.set.Bus.PublishEvent(ctx, messaging.KindRollup, r.Stream, "rollup", ev); err != nil && ctx.Err() == nil {
				s.log.Warn("publish rollup event failed", "stream", r.Stream, "error", err)
			}
		}
	}
	return out
}

// RollupNow runs one rollup pass (tests).
func (s *Service) RollupNow(ctx context.Context) []apiv1.Rollup { return s.rollupOnce(ctx, time.Now()) }

// RollupAt runs one rollup pass as if at now (tests: series go stale
// without waiting).
func (s *Service) RollupAt(ctx context.Context, now time.Time) []apiv1.Rollup {
	return s.rollupOnce(ctx, now)
}

// teamQuotas converts the configured per-team overrides.
func teamQuotas(in map[string]TeamQuota) map[string]cardinality.TeamQuota {
	out := make(map[string]cardinality.TeamQuota, len(in))
	for team, q := range in {
		out[team] = cardinality.TeamQuota{MaxStreams: q.MaxStreams, MaxSeries: q.MaxSeries, MaxDatapointsPerSecond: q.MaxDatapointsPerSecond}
	}
	return out
}
