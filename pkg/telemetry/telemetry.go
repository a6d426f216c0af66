// Package telemetry provides Phoenix's logging and self-metrics: a slog
// logger (text or JSON), a Prometheus registry served on /metrics, and the
// golden signals (rate, errors, duration, in-flight) for HTTP and NATS
// handlers.
package telemetry

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger builds the process logger. format is "text" or "json".
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Metrics is the process's metric registry with the shared golden-signal
// collectors. Services register their own collectors on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
	natsRequests *prometheus.CounterVec
	natsDuration *prometheus.HistogramVec
}

// NewMetrics creates a registry with Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phoenix_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phoenix_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phoenix_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		natsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phoenix_nats_requests_total", Help: "NATS service requests handled, by subject and outcome.",
		}, []string{"subject", "outcome"}),
		natsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "phoenix_nats_request_duration_seconds", Help: "NATS service request latency by subject.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"subject"}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight, m.natsRequests, m.natsDuration)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveHTTP records one finished HTTP request. route is the mux pattern,
// never the raw path, so label cardinality stays bounded.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// InFlight returns the in-flight gauge for the HTTP middleware.
func (m *Metrics) InFlight() prometheus.Gauge { return m.httpInFlight }

// ObserveNATS records one handled NATS request; outcome is "ok" or "error".
func (m *Metrics) ObserveNATS(subject, outcome string, d time.Duration) {
	m.natsRequests.WithLabelValues(subject, outcome).Inc()
	m.natsDuration.WithLabelValues(subject).Observe(d.Seconds())
}
