package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Clock is the runner's time source. Tests inject a SimClock so a
// ten-minute run takes no wall time.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits on a timer.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SimClock is a simulated clock: Sleep advances it instantly.
type SimClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewSimClock starts a simulated clock at start.
func NewSimClock(start time.Time) *SimClock { return &SimClock{now: start} }

// Now returns the simulated time.
func (c *SimClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock by d.
func (c *SimClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// Advance moves the clock forward (tests use it to simulate slow exports).
func (c *SimClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// Run defaults and bounds.
const (
	DefaultInterval      = 10 * time.Second
	DefaultBatchSize     = 1000 // processes (ResourceMetrics) per export request
	DefaultMaxRetries    = 5
	DefaultMaxConsecFail = 10
	minInterval          = 100 * time.Millisecond
	maxBackoff           = 30 * time.Second
)

// RunConfig configures a Runner.
type RunConfig struct {
	Interval time.Duration // between scrapes; default 10s
	Duration time.Duration // 0 = until the context is done
	// MaxDatapointsPerSecond caps the send rate (0 = no cap). A scrape the
	// cap delays past the next scrape's time makes that scrape skipped.
	MaxDatapointsPerSecond float64
	BatchSize              int   // processes per request; default 1000
	MaxRetries             int   // per request, for retryable failures; default 5
	MaxConsecutiveFailures int   // failed requests in a row that end the run; default 10
	Clock                  Clock // default RealClock
	// Progress, when set, is called after every scrape with the totals.
	Progress func(Stats)
}

// Stats are a run's totals.
type Stats struct {
	Started          time.Time     `json:"started"`
	Elapsed          time.Duration `json:"-"`
	ElapsedSeconds   float64       `json:"elapsed_seconds"`
	Scrapes          int64         `json:"scrapes"`
	SkippedScrapes   int64         `json:"skipped_scrapes"`
	Requests         int64         `json:"requests"`
	RequestsFailed   int64         `json:"requests_failed"`
	Retries          int64         `json:"retries"`
	DatapointsSent   int64         `json:"datapoints_sent"`
	DatapointsFailed int64         `json:"datapoints_failed"`
	DatapointsPerSec float64       `json:"datapoints_per_second"`
	ActiveProcesses  int64         `json:"active_processes"`
	ProcessesStarted int64         `json:"processes_started"`
	LastError        string        `json:"last_error,omitempty"`
	LastErrorTime    *time.Time    `json:"last_error_time,omitempty"`
}

// Runner drives a Simulation on a clock and exports every scrape.
type Runner struct {
	sim *Simulation
	exp Exporter
	cfg RunConfig

	mu    sync.Mutex
	stats Stats
}

// NewRunner prepares a run. The simulation's Start is the first scrape's time.
func NewRunner(sim *Simulation, exp Exporter, cfg RunConfig) (*Runner, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < minInterval {
		return nil, fmt.Errorf("interval: must be at least %s, got %s", minInterval, cfg.Interval)
	}
	if cfg.Duration < 0 {
		return nil, fmt.Errorf("duration: must not be negative, got %s", cfg.Duration)
	}
	if cfg.MaxDatapointsPerSecond < 0 {
		return nil, errors.New("max datapoints per second: must not be negative")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	} else if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.MaxConsecutiveFailures <= 0 {
		cfg.MaxConsecutiveFailures = DefaultMaxConsecFail
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	return &Runner{sim: sim, exp: exp, cfg: cfg}, nil
}

// Stats returns a snapshot of the totals; safe to call while Run runs.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Runner) update(f func(*Stats)) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.stats)
	return r.stats
}

// ErrTargetFailing ends a run whose target rejects request after request.
var ErrTargetFailing = errors.New("target keeps failing")

// ErrNothingDelivered ends a run in which every datapoint failed: a short
// run against a target answering 401 makes too few requests for
// ErrTargetFailing, and used to end as if it had succeeded.
var ErrNothingDelivered = errors.New("no datapoint was delivered")

// FailureSummary says how many datapoints failed and why; "" when none did.
func (s Stats) FailureSummary() string {
	if s.DatapointsFailed == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d datapoints failed to deliver, the last error: %s",
		s.DatapointsFailed, s.DatapointsSent+s.DatapointsFailed, s.LastError)
}

// Run scrapes every Interval from the simulation's Start until Duration has
// passed or ctx is done, and returns the totals. A cancelled context ends
// the run without error; a target failing MaxConsecutiveFailures requests in
// a row ends it with ErrTargetFailing, and a run that delivered nothing
// though it tried returns ErrNothingDelivered.
func (r *Runner) Run(ctx context.Context) (Stats, error) {
	clock := r.cfg.Clock
	start := r.sim.Config().Start
	var end time.Time // zero: no end
	if r.cfg.Duration > 0 {
		end = start.Add(r.cfg.Duration)
	}
	r.update(func(s *Stats) { s.Started = start })
	var (
		nextFree    time.Time // rate cap: when the next datapoint may go
		consecFails int
	)
	for k := int64(0); ; k++ {
		at := start.Add(time.Duration(k) * r.cfg.Interval)
		if r.cfg.Duration > 0 && at.Sub(start) >= r.cfg.Duration {
			break
		}
		if now := clock.Now(); now.Before(at) {
			if err := clock.Sleep(ctx, at.Sub(now)); err != nil {
				break
			}
		} else if now.Sub(at) >= r.cfg.Interval {
			// Behind by a whole interval: skip rather than pile up.
			r.update(func(s *Stats) { s.SkippedScrapes++ })
			continue
		}
		if ctx.Err() != nil {
			break
		}
		procs, err := r.sim.ScrapeEach(at, r.cfg.BatchSize, func(batch []*metricspb.ResourceMetrics) error {
			dps := int64(len(batch) * r.sim.DatapointsPerProcess())
			if r.cfg.MaxDatapointsPerSecond > 0 {
				now := clock.Now()
				if nextFree.After(now) {
					if err := clock.Sleep(ctx, nextFree.Sub(now)); err != nil {
						return err
					}
					now = nextFree
				}
				nextFree = now.Add(time.Duration(float64(dps) / r.cfg.MaxDatapointsPerSecond * float64(time.Second)))
			}
			ok, failedAttempts := r.send(ctx, batch, dps, end, r.cfg.MaxConsecutiveFailures-consecFails)
			if err := ctx.Err(); err != nil {
				return err
			}
			if ok {
				consecFails = 0
			} else if consecFails += failedAttempts; consecFails >= r.cfg.MaxConsecutiveFailures {
				return fmt.Errorf("%w: %d requests in a row failed, the last with: %s", ErrTargetFailing, consecFails, r.Stats().LastError)
			}
			return nil
		})
		switch {
		case errors.Is(err, ErrTargetFailing):
			return r.finish(), err
		case err != nil && ctx.Err() == nil:
			return r.finish(), fmt.Errorf("scrape: %w", err)
		}
		st := r.update(func(s *Stats) {
			s.Scrapes++
			s.ActiveProcesses = int64(procs)
			s.ProcessesStarted = r.sim.ProcessesStarted()
		})
		if r.cfg.Progress != nil {
			r.cfg.Progress(r.withRate(st))
		}
		if ctx.Err() != nil {
			break
		}
	}
	st := r.finish()
	if st.DatapointsSent == 0 && st.DatapointsFailed > 0 && ctx.Err() == nil {
		return st, fmt.Errorf("%w: %s", ErrNothingDelivered, st.FailureSummary())
	}
	return st, nil
}

func (r *Runner) withRate(s Stats) Stats {
	s.Elapsed = r.cfg.Clock.Now().Sub(s.Started)
	s.ElapsedSeconds = s.Elapsed.Seconds()
	if s.ElapsedSeconds > 0 {
		s.DatapointsPerSec = float64(s.DatapointsSent) / s.ElapsedSeconds
	}
	return s
}

func (r *Runner) finish() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = r.withRate(r.stats)
	return r.stats
}

// send exports one batch with bounded retries; it reports success. A retry
// that would wait past the run's end is abandoned, so a dead target cannot
// stretch a run beyond its duration.
//
// budget is how many more failed requests the run tolerates; send stops
// retrying when it is spent.
func (r *Runner) send(ctx context.Context, batch []*metricspb.ResourceMetrics, dps int64, end time.Time, budget int) (ok bool, failedAttempts int) {
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: batch}
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		failedAttempts = attempt
		r.update(func(s *Stats) { s.Requests++ })
		rejected, err := r.exp.Export(ctx, req)
		if err == nil {
			r.update(func(s *Stats) {
				s.DatapointsSent += dps - rejected
				s.DatapointsFailed += rejected
				if rejected > 0 {
					r.noteError(s, fmt.Sprintf("receiver rejected %d of %d datapoints (partial success)", rejected, dps))
				}
			})
			return true, failedAttempts
		}
		failedAttempts = attempt + 1
		r.update(func(s *Stats) { s.RequestsFailed++; r.noteError(s, err.Error()) })
		var re *RetryableError
		if ctx.Err() != nil || !errors.As(err, &re) || attempt >= r.cfg.MaxRetries || failedAttempts >= budget {
			r.update(func(s *Stats) { s.DatapointsFailed += dps })
			return false, failedAttempts
		}
		wait := backoff
		if re.After > 0 {
			wait = re.After // the server said when; keep our own backoff for later failures
		} else {
			backoff = min(backoff*2, maxBackoff)
		}
		if !end.IsZero() && r.cfg.Clock.Now().Add(wait).After(end) {
			r.update(func(s *Stats) { s.DatapointsFailed += dps })
			return false, failedAttempts
		}
		r.update(func(s *Stats) { s.Retries++ })
		if err := r.cfg.Clock.Sleep(ctx, wait); err != nil {
			r.update(func(s *Stats) { s.DatapointsFailed += dps })
			return false, failedAttempts
		}
	}
}

func (r *Runner) noteError(s *Stats, msg string) {
	now := r.cfg.Clock.Now()
	s.LastError = msg
	s.LastErrorTime = &now
}
