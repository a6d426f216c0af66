package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/ssrf"
)

// Job is one alert event for one channel.
type Job struct {
	Channel      apiv1.Channel
	Secret       []byte
	Notification apiv1.Notification
}

// Settings configure a Dispatcher.
type Settings struct {
	Queue    int           // jobs waiting; when full, Enqueue refuses (default 1,000)
	Workers  int           // concurrent deliveries (default 2)
	Attempts int           // tries per job (default 5)
	Backoff  time.Duration // wait after the first failed try, doubled each time (default 1 s)
	// MaxBackoff caps the wait between tries (default 1 min).
	MaxBackoff time.Duration
	// Client returns the HTTP client for a channel (its SSRF guard).
	Client func(apiv1.Channel) *http.Client
	// Report receives every status change of a delivery.
	Report func(apiv1.Delivery)
	Logger *slog.Logger
	Now    func() time.Time
}

// Dispatcher delivers jobs from a bounded queue.
type Dispatcher struct {
	s       Settings
	queue   chan Job
	dropped atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// NewDispatcher returns a dispatcher; Start runs its workers.
func NewDispatcher(s Settings) *Dispatcher {
	if s.Queue < 1 {
		s.Queue = 1000
	}
	if s.Workers < 1 {
		s.Workers = 2
	}
	if s.Attempts < 1 {
		s.Attempts = 5
	}
	if s.Backoff <= 0 {
		s.Backoff = time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = time.Minute
	}
	if s.Report == nil {
		s.Report = func(apiv1.Delivery) {}
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Dispatcher{s: s, queue: make(chan Job, s.Queue)}
}

// Start runs the workers until Stop.
func (d *Dispatcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for range d.s.Workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-d.queue:
					d.Deliver(ctx, j, d.s.Attempts)
				}
			}
		}()
	}
}

// Stop stops the workers; jobs still queued are dropped (their deliveries
// stay pending). Idempotent.
func (d *Dispatcher) Stop() {
	d.once.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
	})
}

// Dropped counts jobs refused because the queue was full.
func (d *Dispatcher) Dropped() int64 { return d.dropped.Load() }

// Enqueue queues j; when the queue is full it records the delivery as
// failed and returns false.
func (d *Dispatcher) Enqueue(j Job) bool {
	del := d.delivery(j)
	select {
	case d.queue <- j:
		del.Status = apiv1.DeliveryPending
		d.s.Report(del)
		return true
	default:
		d.dropped.Add(1)
		del.Status, del.Error = apiv1.DeliveryFailed, fmt.Sprintf("notification queue full (%d jobs)", cap(d.queue))
		d.s.Report(del)
		return false
	}
}

func (d *Dispatcher) delivery(j Job) apiv1.Delivery {
	return apiv1.Delivery{AlertID: j.Notification.Alert.ID, ChannelID: j.Channel.ID, Event: j.Notification.Event, UpdatedAt: d.s.Now().UTC()}
}

// permanentError is a failure a retry will not fix (a 4xx answer, a
// refused address, a request that cannot be built).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() + " (not retried)" }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// Deliver sends j, trying up to attempts times with backoff, reports each
// step and returns the final status.
func (d *Dispatcher) Deliver(ctx context.Context, j Job, attempts int) apiv1.Delivery {
	del := d.delivery(j)
	msgs, err := Build(j.Channel, j.Secret, j.Notification)
	if err != nil {
		del.Status, del.Error, del.UpdatedAt = apiv1.DeliveryFailed, err.Error(), d.s.Now().UTC()
		d.s.Report(del)
		return del
	}
	wait := d.s.Backoff
	for attempt := 1; ; attempt++ {
		del.Attempts = attempt
		del.HTTPStatus, err = d.send(ctx, j.Channel, msgs)
		del.UpdatedAt = d.s.Now().UTC()
		if err == nil {
			del.Status, del.Error = apiv1.DeliveryDelivered, ""
			d.s.Report(del)
			return del
		}
		del.Error = err.Error()
		var perm permanentError
		if errors.As(err, &perm) || attempt >= attempts {
			del.Status = apiv1.DeliveryFailed
			d.s.Report(del)
			d.s.Logger.Warn("notification failed", "alert_id", del.AlertID, "channel_id", del.ChannelID, "attempts", attempt, "error", err)
			return del
		}
		del.Status = apiv1.DeliveryPending
		d.s.Report(del)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			del.Error = "stopped before delivery: " + del.Error
			return del
		case <-t.C:
		}
		wait = min(wait*2, d.s.MaxBackoff)
	}
}

// maxResponse bounds the response body read (and kept in errors).
const maxResponse = 4096

// send posts every message in order; it returns the last HTTP status.
func (d *Dispatcher) send(ctx context.Context, ch apiv1.Channel, msgs []Message) (int, error) {
	client := d.s.Client(ch)
	status := 0
	for _, m := range msgs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
		if err != nil {
			return 0, permanent(fmt.Errorf("request: %w", err))
		}
		for k, v := range m.Headers {
			req.Header.Set(k, v)
		}
		req.Header.Set("User-Agent", "phoenix-anomaly-detector")
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, ssrf.ErrBlocked) {
				return 0, permanent(err)
			}
			return 0, fmt.Errorf("post: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
		status = resp.StatusCode
		if status >= 200 && status < 300 {
			continue
		}
		err = fmt.Errorf("receiver answered %d: %.200s", status, bytes.TrimSpace(body))
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
			return status, permanent(err)
		}
		return status, err
	}
	return status, nil
}
