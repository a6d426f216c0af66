// Package service defines what every Phoenix service is to the process that
// runs it: a name, Start and Shutdown, built by a Factory from shared
// Settings. `phoenix server` and each project's own binary run services the
// same way (pkg/app), so all-in-one and distributed share one code path.
package service

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/micro"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/pkg/version"
)

// Settings is what the runner hands every service.
type Settings struct {
	Config   *config.Server
	Logger   *slog.Logger
	Store    *database.Store
	Bus      *messaging.Bus
	Metrics  *telemetry.Metrics
	Version  version.Info
	Instance string

	// Registered names every service this binary can run, in start order
	// (the gateway's status lists them).
	Registered []string
}

// Service is one component of Phoenix. Start must return once the service is
// serving (background work runs on its own context); Shutdown stops it and is
// idempotent.
type Service interface {
	Name() string
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Factory builds a service.
type Factory func(s Settings) (Service, error)

// Registration is what a project declares so a runner (pkg/app) can run it:
// its name, how to build it, its own settings and its migrations. Each
// project declares its registration next to its code; the composition root
// lists them once, in start order.
type Registration struct {
	// Name is the service's name: its NATS subjects, its status entry, its
	// --services value and its config section.
	Name string
	// New builds the service.
	New Factory
	// Config returns the service's own settings holding their defaults,
	// registered as the config section Name; nil when it has none.
	Config func() config.Section
	// Migrations holds the service's SQL migrations in a migrations/ folder
	// (what `//go:embed migrations` gives); the runner applies them before
	// the service starts. Nil when the service keeps no tables.
	Migrations fs.FS
}

// Health values in status answers.
const (
	HealthOK          = "ok"
	HealthDegraded    = "degraded"
	HealthUnreachable = "unreachable"
)

// Status is a service's answer to phoenix.<service>.status.
type Status = apiv1.ServiceStatus

// StatusSubject is where a service answers status requests.
func StatusSubject(name string) string { return "phoenix." + name + ".status" }

// InstanceID names this process: host and PID.
func InstanceID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// Responder owns a service's NATS micro service: the status endpoint plus
// the service's own endpoints. It can be stopped and started again (tests
// use that to simulate a service going away).
type Responder struct {
	mu        sync.Mutex
	s         Settings
	name      string
	health    func(ctx context.Context) (string, string)
	endpoints []messaging.Endpoint
	svc       micro.Service
}

// NewResponder prepares a responder. health may be nil (always ok).
func NewResponder(s Settings, name string, health func(ctx context.Context) (string, string), endpoints ...messaging.Endpoint) *Responder {
	return &Responder{s: s, name: name, health: health, endpoints: endpoints}
}

// Start registers the micro service on the bus.
func (r *Responder) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc != nil {
		return nil
	}
	eps := append([]messaging.Endpoint{{
		Name: "status", Subject: StatusSubject(r.name),
		Handler: func(ctx context.Context, _ []byte) (any, error) {
			h, detail := HealthOK, ""
			if r.health != nil {
				h, detail = r.health(ctx)
			}
			return Status{Name: r.name, Version: r.s.Version.Version, Instance: r.s.Instance, Health: h, Detail: detail}, nil
		},
	}}, r.endpoints...)
	svc, err := r.s.Bus.AddService(messaging.ServiceConfig{
		Name: serviceName(r.name), Version: semver(r.s.Version.Version), Description: "Phoenix " + r.name,
		Metadata: map[string]string{"instance": r.s.Instance},
		Observer: r.s.Metrics, Endpoints: eps,
	})
	if err != nil {
		return err
	}
	r.svc = svc
	return nil
}

// Stop removes the micro service from the bus; idempotent.
func (r *Responder) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc == nil {
		return nil
	}
	err := r.svc.Stop()
	r.svc = nil
	return err
}

// serviceName maps a Phoenix service name to a micro service name (micro
// allows only A-Z, a-z, 0-9, - and _).
func serviceName(name string) string { return name }

// semver gives micro the semantic version it insists on.
func semver(v string) string {
	if v == "" || v == "dev" {
		return "0.0.0-dev"
	}
	if s := strings.TrimPrefix(v, "v"); semverRE.MatchString(s) {
		return s
	}
	// An untagged build's version is `git describe --always --dirty`
	// (a commit hash, perhaps "-dirty"), which NATS micro refuses as a
	// service version: it travels as build metadata instead.
	meta := strings.Trim(invalidMeta.ReplaceAllString(v, "-"), ".-")
	if meta == "" {
		return "0.0.0-dev"
	}
	return "0.0.0-dev+" + meta
}

// semverRE is the SemVer 2.0 grammar NATS micro validates service versions
// against.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// invalidMeta matches what SemVer build metadata may not contain.
var invalidMeta = regexp.MustCompile(`[^0-9A-Za-z.-]+|\.\.+`)
