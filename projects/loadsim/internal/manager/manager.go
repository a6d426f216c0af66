// Package manager runs the load simulations the server was asked for: it
// checks each request (profile, size, duration, allowed target), runs it in
// the background on pkg/loadgen, answers status by team, and stops every run
// on Shutdown. Simulations live in memory: a server restart ends them.
package manager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Settings configure a Manager.
type Settings struct {
	// Allowed holds the target keys (loadgen.Target.Key) simulations may send to.
	Allowed       []string
	MaxConcurrent int
	MaxDuration   time.Duration
	MaxProcesses  int // hosts x peak processes per simulation
	// MaxHistory bounds finished simulations kept for GET; the oldest go first.
	MaxHistory int
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
	// MinInterval is the shortest scrape interval accepted; default 1s
	// (tests lower it).
	MinInterval time.Duration
}

// Manager owns the running and recently finished simulations.
type Manager struct {
	s       Settings
	metrics *metrics

	ctx    context.Context // parent of every run; cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	sims   map[string]*sim
	closed bool
}

type sim struct {
	info   loadgen.SimulationInfo // static fields; state fields guarded by Manager.mu
	runner *loadgen.Runner
	cancel context.CancelFunc
	done   chan struct{}
}

// New builds a manager.
func New(s Settings) *Manager {
	if s.MaxHistory <= 0 {
		s.MaxHistory = 64
	}
	if s.MinInterval <= 0 {
		s.MinInterval = time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{s: s, metrics: newMetrics(s.Registerer), ctx: ctx, cancel: cancel, sims: map[string]*sim{}}
}

// visible says whether p may see a simulation owned by team. A simulation
// without a team (started by a caller with none, as in dev mode) is visible
// to callers without teams.
func visible(p apiv1.Principal, team string) bool {
	return p.InTeam(team) || (team == "" && len(p.Teams) == 0)
}

// validate turns a request into a simulation and its target, reporting every
// invalid field at once.
func (m *Manager) validate(p apiv1.Principal, req loadgen.StartRequest) (*loadgen.Simulation, loadgen.Target, loadgen.RunConfig, string, error) {
	var (
		fields  []problem.FieldError
		profile *loadgen.Profile
		rc      loadgen.RunConfig
	)
	bad := func(path, format string, args ...any) {
		fields = append(fields, problem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case req.Profile == loadgen.ProfileCustom:
		if req.ProfileYAML == "" {
			bad("profile_yaml", "required for the custom profile")
			break
		}
		cp, err := loadgen.ParseCustom([]byte(req.ProfileYAML))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				bad("profile_yaml", "%s", line)
			}
			break
		}
		profile = cp
	case req.ProfileYAML != "":
		bad("profile_yaml", "only for the custom profile")
	default:
		bp, err := loadgen.Builtin(req.Profile)
		if err != nil {
			bad("profile", "%s", err.Error())
		}
		profile = bp
	}
	if req.Hosts < 1 {
		bad("hosts", "must be at least 1")
	}
	if profile != nil && req.Hosts >= 1 {
		if n := int64(req.Hosts) * int64(profile.PeakPerHost()); n > int64(m.s.MaxProcesses) {
			bad("hosts", "%d hosts x %d processes at peak = %d processes, over the server's limit of %d", req.Hosts, profile.PeakPerHost(), n, m.s.MaxProcesses)
		}
	}
	target, err := loadgen.ParseTarget(req.Target, req.Protocol)
	if err != nil {
		bad("target", "%s", err.Error())
	}
	d, err := time.ParseDuration(req.Duration)
	switch {
	case req.Duration == "":
		bad("duration", "required, e.g. \"10m\" (at most %s)", m.s.MaxDuration)
	case err != nil:
		bad("duration", "%q is not a duration like 10m", req.Duration)
	case d <= 0 || d > m.s.MaxDuration:
		bad("duration", "must be more than 0 and at most %s", m.s.MaxDuration)
	}
	rc.Duration = d
	rc.Interval = loadgen.DefaultInterval
	if req.Interval != "" {
		iv, err := time.ParseDuration(req.Interval)
		if err != nil || iv < m.s.MinInterval || iv > time.Hour {
			bad("interval", "must be a duration from %s to 1h", m.s.MinInterval)
		}
		rc.Interval = iv
	}
	if req.MaxDatapointsPerSecond < 0 {
		bad("max_datapoints_per_second", "must not be negative")
	}
	rc.MaxDatapointsPerSecond = req.MaxDatapointsPerSecond
	team := req.Team
	if team == "" && len(p.Teams) > 0 {
		team = p.Teams[0]
	}
	if len(fields) > 0 {
		return nil, target, rc, team, problem.BadRequest("invalid simulation", fields...)
	}
	if req.Team != "" && !p.InTeam(req.Team) {
		return nil, target, rc, team, problem.Forbidden("you are not in team %q", req.Team)
	}
	if !slices.Contains(m.s.Allowed, target.Key()) {
		return nil, target, rc, team, problem.Forbidden("target %s is not allowed for simulations run by the server; allowed: %s. "+
			"An admin adds targets with --loadsim-allowed-targets (or runs `phoenix loadsim run` locally, which has no such limit)",
			target.Key(), strings.Join(m.s.Allowed, ", "))
	}
	var seed int64
	if req.Seed != nil {
		seed = *req.Seed
	} else {
		seed = randomSeed()
	}
	simu, err := loadgen.New(loadgen.Config{Profile: profile, Hosts: req.Hosts, Seed: seed, Start: time.Now(), MaxProcesses: m.s.MaxProcesses})
	if err != nil {
		return nil, target, rc, team, problem.BadRequest(err.Error())
	}
	return simu, target, rc, team, nil
}

func randomSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var v int64
	for _, x := range b {
		v = v<<8 | int64(x)
	}
	if v < 0 {
		v = -v
	}
	return v
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ls-" + hex.EncodeToString(b[:])
}

// Start validates and starts a simulation for p.
func (m *Manager) Start(p apiv1.Principal, req loadgen.StartRequest) (loadgen.SimulationInfo, error) {
	simu, target, rc, team, err := m.validate(p, req)
	if err != nil {
		m.metrics.rejected.Inc()
		return loadgen.SimulationInfo{}, err
	}
	exp, err := loadgen.NewExporter(target, loadgen.ExporterOptions{})
	if err != nil {
		return loadgen.SimulationInfo{}, problem.BadRequest("target: " + err.Error())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = exp.Close()
		return loadgen.SimulationInfo{}, problem.New(http.StatusServiceUnavailable, "the loadsim service is shutting down")
	}
	if n := m.runningLocked(); n >= m.s.MaxConcurrent {
		_ = exp.Close()
		m.metrics.rejected.Inc()
		return loadgen.SimulationInfo{}, problem.Conflict("%d simulations are running, the server's limit; stop one first", n)
	}
	cfg := simu.Config()
	s := &sim{done: make(chan struct{})}
	s.info = loadgen.SimulationInfo{
		ID: newID(), Profile: cfg.Profile.Name, Hosts: cfg.Hosts, Target: target.String(), Seed: cfg.Seed,
		Interval: rc.Interval.String(), Duration: rc.Duration.String(), MaxDatapointsPerSecond: rc.MaxDatapointsPerSecond,
		Team: team, CreatedBy: p.Subject, State: loadgen.StateRunning, StartedAt: cfg.Start.UTC(),
	}
	var last loadgen.Stats
	rc.Progress = func(st loadgen.Stats) {
		m.metrics.sent.Add(float64(st.DatapointsSent - last.DatapointsSent))
		m.metrics.failed.Add(float64(st.DatapointsFailed - last.DatapointsFailed))
		last = st
	}
	runner, err := loadgen.NewRunner(simu, exp, rc)
	if err != nil {
		_ = exp.Close()
		return loadgen.SimulationInfo{}, problem.BadRequest(err.Error())
	}
	s.runner = runner
	ctx, cancel := context.WithCancel(m.ctx)
	s.cancel = cancel
	m.sims[s.info.ID] = s
	m.evictLocked()
	m.metrics.running.Inc()
	m.wg.Add(1)
	go m.run(ctx, s, exp)
	m.s.Logger.Info("simulation started", "simulation_id", s.info.ID, "profile", s.info.Profile, "hosts", s.info.Hosts,
		"target", s.info.Target, "duration", s.info.Duration, "team", team, "created_by", p.Subject)
	return m.snapshotLocked(s), nil
}

func (m *Manager) run(ctx context.Context, s *sim, exp loadgen.Exporter) {
	defer m.wg.Done()
	defer close(s.done)
	defer s.cancel()
	st, err := s.runner.Run(ctx)
	_ = exp.Close()
	m.metrics.running.Dec()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UTC()
	s.info.EndedAt = &now
	s.info.Stats = st
	switch {
	case err != nil:
		s.info.State, s.info.Error = loadgen.StateFailed, err.Error()
	case ctx.Err() != nil:
		s.info.State = loadgen.StateStopped
	default:
		s.info.State = loadgen.StateCompleted
	}
	if s.info.Error == "" {
		// Completed or stopped with some datapoints lost: say so, rather
		// than error: null beside a failure count.
		s.info.Error = st.FailureSummary()
	}
	m.s.Logger.Info("simulation ended", "simulation_id", s.info.ID, "state", s.info.State,
		"datapoints_sent", st.DatapointsSent, "datapoints_failed", st.DatapointsFailed, "error", s.info.Error)
}

func (m *Manager) runningLocked() int {
	n := 0
	for _, s := range m.sims {
		if s.info.State == loadgen.StateRunning {
			n++
		}
	}
	return n
}

// evictLocked drops the oldest finished simulations beyond MaxHistory.
func (m *Manager) evictLocked() {
	var finished []*sim
	for _, s := range m.sims {
		if s.info.State != loadgen.StateRunning {
			finished = append(finished, s)
		}
	}
	if len(finished) <= m.s.MaxHistory {
		return
	}
	sort.Slice(finished, func(i, j int) bool { return finished[i].info.StartedAt.Before(finished[j].info.StartedAt) })
	for _, s := range finished[:len(finished)-m.s.MaxHistory] {
		delete(m.sims, s.info.ID)
	}
}

func (m *Manager) snapshotLocked(s *sim) loadgen.SimulationInfo {
	info := s.info
	if info.State == loadgen.StateRunning {
		info.Stats = s.runner.Stats()
		info.Stats.ElapsedSeconds = time.Since(info.StartedAt).Seconds()
		if info.Stats.ElapsedSeconds > 0 {
			info.Stats.DatapointsPerSec = float64(info.Stats.DatapointsSent) / info.Stats.ElapsedSeconds
		}
	}
	return info
}

// List returns the simulations p may see, newest first.
func (m *Manager) List(p apiv1.Principal) []loadgen.SimulationInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []loadgen.SimulationInfo{}
	for _, s := range m.sims {
		if visible(p, s.info.Team) {
			out = append(out, m.snapshotLocked(s))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.After(out[j].StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Get returns one simulation; 404 when it does not exist or p may not see it.
func (m *Manager) Get(p apiv1.Principal, id string) (loadgen.SimulationInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sims[id]
	if !ok || !visible(p, s.info.Team) {
		return loadgen.SimulationInfo{}, problem.NotFound("no simulation %q", id)
	}
	return m.snapshotLocked(s), nil
}

// Stop stops a running simulation and waits for it to end (or ctx).
// Stopping a finished simulation returns it unchanged.
func (m *Manager) Stop(ctx context.Context, p apiv1.Principal, id string) (loadgen.SimulationInfo, error) {
	m.mu.Lock()
	s, ok := m.sims[id]
	if !ok || !visible(p, s.info.Team) {
		m.mu.Unlock()
		return loadgen.SimulationInfo{}, problem.NotFound("no simulation %q", id)
	}
	s.cancel()
	m.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		return loadgen.SimulationInfo{}, problem.New(http.StatusGatewayTimeout, "simulation %s is still stopping", id)
	}
	m.s.Logger.Info("simulation stopped", "simulation_id", id, "stopped_by", p.Subject)
	return m.Get(p, id)
}

// Running counts running simulations.
func (m *Manager) Running() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runningLocked()
}

// Shutdown stops every simulation and waits for them; idempotent.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop simulations: %w", ctx.Err())
	}
}

type metrics struct {
	running      prometheus.Gauge
	sent, failed prometheus.Counter
	rejected     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phoenix_loadsim_simulations_running", Help: "Load simulations running."}),
		sent:    prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_loadsim_datapoints_sent_total", Help: "Datapoints server-run simulations delivered."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_loadsim_datapoints_failed_total", Help: "Datapoints server-run simulations failed to deliver."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "phoenix_loadsim_starts_rejected_total",
			Help: "Simulation start requests refused (invalid, not allowed or over the limit)."}),
	}
	if reg == nil {
		return m
	}
	// A second manager on the same registry (tests, a restarted service)
	// shares the collectors already registered.
	register := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return are.ExistingCollector
			}
			slog.Default().Warn("register loadsim metric", "error", err)
		}
		return c
	}
	m.running = register(m.running).(prometheus.Gauge)
	m.sent = register(m.sent).(prometheus.Counter)
	m.failed = register(m.failed).(prometheus.Counter)
	m.rejected = register(m.rejected).(prometheus.Counter)
	return m
}
