package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Service names: the projects that run inside `phoenix server`.
const (
	ServicePlatformAPI     = "platform-api"
	ServiceController      = "controller"
	ServiceGenerator       = "generator"
	ServiceAnalytics       = "analytics"
	ServiceAnomalyDetector = "anomaly-detector"
	ServiceLoadsim         = "loadsim"
)

// AllServices lists every service `phoenix server` can run, in start order.
var AllServices = []string{
	ServiceAnalytics, ServiceGenerator, ServiceController, ServiceAnomalyDetector, ServiceLoadsim, ServicePlatformAPI,
}

// Server is the whole configuration of `phoenix server` and of each service
// binary. Each service reads only its own section.
type Server struct {
	ConfigFile  string   `yaml:"-"`
	DataDir     string   `yaml:"data_dir" flag:"data-dir" usage:"directory for the embedded database and NATS store"`
	Services    []string `yaml:"services" flag:"services" usage:"comma-separated services to run in this process"`
	DatabaseURL string   `yaml:"database_url" flag:"database-url" usage:"postgres://... to use PostgreSQL; empty for embedded SQLite"`
	NATSURL     string   `yaml:"nats_url" flag:"nats-url" usage:"nats://... to use a NATS server; empty for the embedded one"`
	Dev         bool     `yaml:"dev" flag:"dev" usage:"start a local agent, collector and demo traffic"`

	Log       Log       `yaml:"log" flag:"log"`
	API       API       `yaml:"api" flag:"api"`
	Analytics Analytics `yaml:"analytics" flag:"analytics"`
	Shutdown  Shutdown  `yaml:"shutdown" flag:"shutdown"`
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format" flag:"format" usage:"log format: text or json"`
	Level  string `yaml:"level" flag:"level" usage:"log level: debug, info, warn or error"`
}

// API configures the platform-api gateway.
type API struct {
	Addr          string        `yaml:"addr" flag:"addr" usage:"HTTP listen address for the API, dashboard and WebSocket"`
	MaxBodyBytes  int64         `yaml:"max_body_bytes" flag:"max-body-bytes" usage:"largest accepted request body"`
	ServiceTimout time.Duration `yaml:"service_timeout" flag:"service-timeout" usage:"deadline for a service's answer over NATS"`
}

// Analytics configures metrics ingest.
type Analytics struct {
	OTLPGRPCAddr string `yaml:"otlp_grpc_addr" flag:"otlp-grpc-addr" usage:"OTLP gRPC listen address"`
	OTLPHTTPAddr string `yaml:"otlp_http_addr" flag:"otlp-http-addr" usage:"OTLP HTTP and remote write listen address"`
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout" flag:"timeout" usage:"time allowed to drain and stop"`
}

// DefaultServer returns the defaults: all services, embedded stores under
// ~/.phoenix (or $PHOENIX_DATA_DIR, which the loader applies on top).
func DefaultServer() Server {
	dataDir := ".phoenix"
	if home, err := os.UserHomeDir(); err == nil {
		dataDir = filepath.Join(home, ".phoenix")
	}
	return Server{
		DataDir:   dataDir,
		Services:  slices.Clone(AllServices),
		Log:       Log{Format: "text", Level: "info"},
		API:       API{Addr: ":8080", MaxBodyBytes: 1 << 20, ServiceTimout: 5 * time.Second},
		Analytics: Analytics{OTLPGRPCAddr: ":4317", OTLPHTTPAddr: ":4318"},
		Shutdown:  Shutdown{Timeout: 10 * time.Second},
	}
}

// Validate reports every problem at once.
func (c *Server) Validate() error {
	var errs []error
	if c.DataDir == "" && (c.DatabaseURL == "" || c.NATSURL == "") {
		errs = append(errs, errors.New("data_dir: must be set when the embedded database or NATS is used"))
	}
	if len(c.Services) == 0 {
		errs = append(errs, errors.New("services: at least one service is required"))
	}
	for _, s := range c.Services {
		if !slices.Contains(AllServices, s) {
			errs = append(errs, fmt.Errorf("services: unknown service %q (known: %s)", s, strings.Join(AllServices, ", ")))
		}
	}
	if c.DatabaseURL != "" {
		if err := checkURL(c.DatabaseURL, "postgres", "postgresql"); err != nil {
			errs = append(errs, fmt.Errorf("database_url: %w", err))
		}
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if err := checkURL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
				errs = append(errs, fmt.Errorf("nats_url: %w", err))
			}
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: must be text or json, got %q", c.Log.Format))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: must be debug, info, warn or error, got %q", c.Log.Level))
	}
	for key, addr := range map[string]string{
		"api.addr": c.API.Addr, "analytics.otlp_grpc_addr": c.Analytics.OTLPGRPCAddr,
		"analytics.otlp_http_addr": c.Analytics.OTLPHTTPAddr,
	} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid listen address %q: want host:port", key, addr))
		}
	}
	if c.API.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("api.max_body_bytes: must be positive"))
	}
	if c.API.ServiceTimout <= 0 {
		errs = append(errs, errors.New("api.service_timeout: must be positive"))
	}
	if c.Shutdown.Timeout <= 0 {
		errs = append(errs, errors.New("shutdown.timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// Runs reports whether this process runs the named service.
func (c *Server) Runs(name string) bool { return slices.Contains(c.Services, name) }

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("malformed URL %q: %w", redact(raw), err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return fmt.Errorf("malformed URL %q: scheme must be one of %s", redact(raw), strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return fmt.Errorf("malformed URL %q: missing host", redact(raw))
	}
	return nil
}

// redact hides a password in a URL so config errors can be logged.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
