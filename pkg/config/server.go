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

// Service names: the projects that run inside `phoenix server`. They are
// part of the contract (NATS subjects phoenix.<service>.<operation>, the
// status answer), so they live here; which services exist, in which order
// they start and what each one brings is the registry's business
// (service.Registration, listed once by the composition root).
const (
	ServicePlatformAPI = "platform-api"
	ServiceController  = "controller"
	ServiceGenerator   = "generator"
	ServiceAnalytics   = "analytics"
	ServiceLoadsim     = "loadsim"
)

// ServiceAnomalyDetector is the guard (issue 16): detectors over rollups, alerts.
const ServiceAnomalyDetector = "anomaly-detector"

// Server is the configuration shared by every service of `phoenix server`
// and of each service binary: stores, bus, logs, telemetry, shutdown, the
// gateway's api and auth sections, and every listen address (other services,
// the --dev loop and tests point at them). Each project declares its own
// settings next to its code and registers them as a Section under its name;
// a project's YAML section may thus hold shared keys (here) beside its own.
type Server struct {
	ConfigFile  string   `yaml:"-"`
	DataDir     string   `yaml:"data_dir" flag:"data-dir" usage:"directory for the embedded database and NATS store"`
	Services    []string `yaml:"services" flag:"services" usage:"comma-separated services to run in this process"`
	DatabaseURL string   `yaml:"database_url" flag:"database-url" usage:"postgres://... to use PostgreSQL; empty for embedded SQLite"`
	NATSURL     string   `yaml:"nats_url" flag:"nats-url" usage:"nats://... to use a NATS server; empty for the embedded one"`
	Dev         bool     `yaml:"dev" flag:"dev" usage:"start a local agent, collector and demo traffic"`
	// TracesEndpoint turns on OpenTelemetry traces of Phoenix itself (OTLP/HTTP URL).
	TracesEndpoint string `yaml:"traces_endpoint" flag:"traces-endpoint" usage:"OTLP/HTTP URL for Phoenix's own traces; empty disables tracing"`
	RedisURL       string `yaml:"redis_url" flag:"redis-url" usage:"redis://... shared by gateway replicas for rate limits and revocations; empty for in-memory (all-in-one)"`

	Log Log `yaml:"log" flag:"log"`
	API API `yaml:"api" flag:"api"`
	// Analytics holds the ingest listen addresses; the rest of the
	// analytics section belongs to projects/analytics.
	Analytics Analytics `yaml:"analytics" flag:"analytics"`
	// PriceCatalog is shared by every service that prices series (analytics
	// answers cost; the generator asks it over NATS).
	PriceCatalog string `yaml:"price_catalog" flag:"price-catalog" usage:"price catalog YAML (default: the built-in configs/pricing.yaml)"`
	// Controller holds the OpAMP listen address and the --dev loop's
	// settings; the rest of the controller section belongs to
	// projects/controller.
	Controller Controller `yaml:"controller" flag:"controller"`
	Auth       Auth       `yaml:"auth" flag:"auth"`
	Shutdown   Shutdown   `yaml:"shutdown" flag:"shutdown"`

	// sections are the projects' own settings, in registration order.
	sections []section
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format" flag:"format" usage:"log format: text or json"`
	Level  string `yaml:"level" flag:"level" usage:"log level: debug, info, warn or error"`
}

// API configures the platform-api gateway.
type API struct {
	Addr           string        `yaml:"addr" flag:"addr" usage:"HTTP listen address for the API, dashboard and WebSocket"`
	MaxBodyBytes   int64         `yaml:"max_body_bytes" flag:"max-body-bytes" usage:"largest accepted request body"`
	ServiceTimeout time.Duration `yaml:"service_timeout" flag:"service-timeout" usage:"deadline for a service's answer over NATS"`
}

// Analytics holds the ingest listen addresses: loadsim's "self" target,
// the --dev collector's exporter and tests point at them.
type Analytics struct {
	OTLPGRPCAddr string `yaml:"otlp_grpc_addr" flag:"otlp-grpc-addr" usage:"OTLP gRPC listen address"`
	OTLPHTTPAddr string `yaml:"otlp_http_addr" flag:"otlp-http-addr" usage:"OTLP HTTP and remote write listen address"`
}

// Controller holds the OpAMP listen address agents connect to and what the
// --dev loop (the composition root, not a service) runs.
type Controller struct {
	OpAMPAddr        string `yaml:"opamp_addr" flag:"opamp-addr" usage:"OpAMP (agents) listen address; the path is /v1/opamp"`
	CollectorBin     string `yaml:"collector_bin" flag:"collector-bin" usage:"phoenix-collector executable for the --dev agent (default: beside the phoenix executable, or env PHOENIX_COLLECTOR_BIN)"`
	DevOTLPGRPCAddr  string `yaml:"dev_otlp_grpc_addr" flag:"dev-otlp-grpc-addr" usage:"--dev collector OTLP gRPC listen address"`
	DevOTLPHTTPAddr  string `yaml:"dev_otlp_http_addr" flag:"dev-otlp-http-addr" usage:"--dev collector OTLP HTTP listen address"`
	DevTelemetryAddr string `yaml:"dev_telemetry_addr" flag:"dev-telemetry-addr" usage:"--dev collector own metrics listen address"`
	DevHealthAddr    string `yaml:"dev_health_addr" flag:"dev-health-addr" usage:"--dev collector health_check listen address"`
}

// Auth configures authentication, rate limits and outbound URL checks.
// Secrets are never flags (they would show in the process list): SecretKey
// comes from the config file or PHOENIX_SECRET_KEY, BootstrapAdminPassword
// only from PHOENIX_BOOTSTRAP_ADMIN_PASSWORD.
type Auth struct {
	IngestOpen      bool          `yaml:"ingest_open" flag:"ingest-open" usage:"accept ingest and agents without credentials (the --dev loop only; --dev implies it)"`
	Issuer          string        `yaml:"issuer" flag:"issuer" usage:"JWT iss claim"`
	Audience        string        `yaml:"audience" flag:"audience" usage:"JWT aud claim"`
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl" flag:"access-token-ttl" usage:"lifetime of access tokens"`
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl" flag:"refresh-token-ttl" usage:"lifetime of refresh tokens"`
	AllowedOrigins  []string      `yaml:"allowed_origins" flag:"allowed-origins" usage:"origins allowed for CORS and WebSocket; empty means only the API's own origin"`
	RateLimitRead   int           `yaml:"rate_limit_read" flag:"rate-limit-read" usage:"read requests per minute per principal"`
	RateLimitWrite  int           `yaml:"rate_limit_write" flag:"rate-limit-write" usage:"state-changing requests per minute per principal"`
	RateLimitLogin  int           `yaml:"rate_limit_login" flag:"rate-limit-login" usage:"failed logins per user name (and 4x per client address) per 15 minutes"`
	AuditRetention  time.Duration `yaml:"audit_retention" flag:"audit-retention" usage:"how long audit log entries are kept"`
	SSRFAllowCIDRs  []string      `yaml:"ssrf_allow_cidrs" flag:"ssrf-allow-cidrs" usage:"private ranges outbound webhooks may reach (e.g. 10.20.0.0/16)"`
	SecretKey       string        `yaml:"secret_key" usage:"base64 AES-256 key for secrets at rest (env PHOENIX_SECRET_KEY)"`
	// BootstrapAdminPassword is the first admin's password; env only.
	BootstrapAdminPassword string `yaml:"-"`
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout" flag:"timeout" usage:"time allowed to drain and stop"`
}

// DefaultServer returns the shared defaults: embedded stores under
// ~/.phoenix (or $PHOENIX_DATA_DIR, which the loader applies on top). The
// runner adds the default service list and each project's section.
func DefaultServer() Server {
	dataDir := ".phoenix"
	if home, err := os.UserHomeDir(); err == nil {
		dataDir = filepath.Join(home, ".phoenix")
	}
	return Server{
		DataDir:   dataDir,
		Log:       Log{Format: "text", Level: "info"},
		API:       API{Addr: ":8080", MaxBodyBytes: 1 << 20, ServiceTimeout: 5 * time.Second},
		Analytics: Analytics{OTLPGRPCAddr: ":4317", OTLPHTTPAddr: ":4318"},
		Auth: Auth{
			Issuer: "phoenix", Audience: "phoenix-api", AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 30 * 24 * time.Hour,
			RateLimitRead: 1200, RateLimitWrite: 300, RateLimitLogin: 10, AuditRetention: 90 * 24 * time.Hour,
		},
		Controller: Controller{
			OpAMPAddr: ":4320", DevOTLPGRPCAddr: "127.0.0.1:14317", DevOTLPHTTPAddr: "127.0.0.1:14318",
			DevTelemetryAddr: "127.0.0.1:18888", DevHealthAddr: "127.0.0.1:13133",
		},
		Shutdown: Shutdown{Timeout: 10 * time.Second},
	}
}

// normalize applies derived settings: --dev implies open ingest, and the
// secrets that are read from the environment only.
func (c *Server) normalize() {
	if c.Dev {
		c.Auth.IngestOpen = true
	}
	if v := os.Getenv(EnvPrefix + "SECRET_KEY"); v != "" {
		c.Auth.SecretKey = v
	}
	if v := os.Getenv(EnvPrefix + "BOOTSTRAP_ADMIN_PASSWORD"); v != "" {
		c.Auth.BootstrapAdminPassword = v
	}
}

// Validate normalizes derived settings, then reports every problem at once,
// the registered sections' included. Which services may run is checked by
// the runner, which knows the registry.
func (c *Server) Validate() error {
	c.normalize()
	var errs []error
	if c.DataDir == "" && (c.DatabaseURL == "" || c.NATSURL == "") {
		errs = append(errs, errors.New("data_dir: must be set when the embedded database or NATS is used"))
	}
	if c.DatabaseURL != "" {
		if err := CheckURL(c.DatabaseURL, "postgres", "postgresql"); err != nil {
			errs = append(errs, fmt.Errorf("database_url: %w", err))
		}
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if err := CheckURL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
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
		"analytics.otlp_http_addr":      c.Analytics.OTLPHTTPAddr,
		"controller.opamp_addr":         c.Controller.OpAMPAddr,
		"controller.dev_otlp_grpc_addr": c.Controller.DevOTLPGRPCAddr,
		"controller.dev_otlp_http_addr": c.Controller.DevOTLPHTTPAddr,
		"controller.dev_telemetry_addr": c.Controller.DevTelemetryAddr,
		"controller.dev_health_addr":    c.Controller.DevHealthAddr,
	} {
		if err := checkListenAddr(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if c.API.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("api.max_body_bytes: must be positive"))
	}
	if c.API.ServiceTimeout <= 0 {
		errs = append(errs, errors.New("api.service_timeout: must be positive"))
	}
	if c.RedisURL != "" {
		if err := CheckURL(c.RedisURL, "redis", "rediss"); err != nil {
			errs = append(errs, fmt.Errorf("redis_url: %w", err))
		}
	}
	errs = append(errs, c.Auth.validate()...)
	if c.Shutdown.Timeout <= 0 {
		errs = append(errs, errors.New("shutdown.timeout: must be positive"))
	}
	for _, sec := range c.sections {
		if err := sec.settings.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkListenAddr reports whether addr is host:port.
func checkListenAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("invalid listen address %q: want host:port", addr)
	}
	return nil
}

// Runs reports whether this process runs the named service.
func (c *Server) Runs(name string) bool { return slices.Contains(c.Services, name) }

// CheckURL reports whether raw is a URL with one of the schemes and a host;
// errors never show a password.
func CheckURL(raw string, schemes ...string) error {
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

func (a *Auth) validate() []error {
	var errs []error
	if a.Issuer == "" || a.Audience == "" {
		errs = append(errs, errors.New("auth.issuer, auth.audience: must be set"))
	}
	if a.AccessTokenTTL < time.Minute || a.AccessTokenTTL > 24*time.Hour {
		errs = append(errs, errors.New("auth.access_token_ttl: must be from 1m to 24h"))
	}
	if a.AuditRetention < 24*time.Hour {
		errs = append(errs, errors.New("auth.audit_retention: must be at least 24h"))
	}
	if a.RefreshTokenTTL < a.AccessTokenTTL {
		errs = append(errs, errors.New("auth.refresh_token_ttl: must be at least auth.access_token_ttl"))
	}
	for key, n := range map[string]int{"auth.rate_limit_read": a.RateLimitRead, "auth.rate_limit_write": a.RateLimitWrite,
		"auth.rate_limit_login": a.RateLimitLogin} {
		if n <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", key))
		}
	}
	for _, o := range a.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("auth.allowed_origins: %q is not an origin like https://phoenix.example.com", o))
		}
	}
	for _, c := range a.SSRFAllowCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, fmt.Errorf("auth.ssrf_allow_cidrs: %q is not a CIDR", c))
		}
	}
	return errs
}
