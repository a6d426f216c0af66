// Package loadsim is the load simulator service: it runs synthetic fleets of
// hosts (pkg/loadgen, shaped like the hostmetrics process scraper plus
// resourcedetection) against allowed OTLP targets, on request over NATS
// (POST/GET/DELETE /api/v1/loadsim through the gateway). Simulations are
// bounded in number, size and duration, owned by the caller's team, and
// stopped when the service shuts down.
package loadsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/loadsim/internal/manager"
)

// Service is the loadsim service.
type Service struct {
	resp *service.Responder
	m    *manager.Manager
	once sync.Once
}

// Registration is how a runner runs loadsim: its settings (the loadsim
// section); it keeps no tables.
func Registration() service.Registration {
	return service.Registration{
		Name:   config.ServiceLoadsim,
		New:    New,
		Config: func() config.Section { c := DefaultConfig(); return &c },
	}
}

// New builds the loadsim service.
func New(s service.Settings) (service.Service, error) {
	allowed, err := AllowedTargets(s.Config)
	if err != nil {
		return nil, err
	}
	lc := ConfigFrom(s.Config)
	ms := manager.Settings{
		Allowed: allowed, MaxConcurrent: lc.MaxConcurrent, MaxDuration: lc.MaxDuration,
		MaxProcesses: lc.MaxProcesses, Logger: s.Logger,
	}
	if s.Metrics != nil {
		ms.Registerer = s.Metrics.Registry
	}
	return newService(s, ms), nil
}

func newService(s service.Settings, ms manager.Settings) *Service {
	svc := &Service{m: manager.New(ms)}
	health := func(context.Context) (string, string) {
		return service.HealthOK, fmt.Sprintf("%d simulations running", svc.m.Running())
	}
	svc.resp = service.NewResponder(s, config.ServiceLoadsim, health,
		messaging.Endpoint{Name: "start", Subject: loadgen.SubjectStart, Handler: svc.start},
		messaging.Endpoint{Name: "list", Subject: loadgen.SubjectList, Handler: svc.list},
		messaging.Endpoint{Name: "get", Subject: loadgen.SubjectGet, Handler: svc.get},
		messaging.Endpoint{Name: "stop", Subject: loadgen.SubjectStop, Handler: svc.stop},
	)
	return svc
}

// AllowedTargets expands the config's allowlist into target keys: "self" is
// this Phoenix's OTLP ingest on loopback and the --dev collector's ports.
func AllowedTargets(c *config.Server) ([]string, error) {
	var keys []string
	add := func(raw, protocol string) error {
		t, err := loadgen.ParseTarget(raw, protocol)
		if err != nil {
			return err
		}
		keys = append(keys, t.Key())
		return nil
	}
	var errs []error
	for _, a := range ConfigFrom(c).AllowedTargets {
		if a != Self {
			if err := add(a, ""); err != nil {
				errs = append(errs, fmt.Errorf("loadsim.allowed_targets: %w", err))
			}
			continue
		}
		for _, addr := range []struct{ addr, protocol string }{
			{c.Analytics.OTLPHTTPAddr, loadgen.ProtocolHTTP}, {c.Analytics.OTLPGRPCAddr, loadgen.ProtocolGRPC},
			{c.Controller.DevOTLPHTTPAddr, loadgen.ProtocolHTTP}, {c.Controller.DevOTLPGRPCAddr, loadgen.ProtocolGRPC},
		} {
			if port := portOf(addr.addr); port != "" {
				for _, host := range []string{"127.0.0.1", "[::1]"} {
					if err := add(host+":"+port, addr.protocol); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	return keys, errors.Join(errs...)
}

// portOf returns a listen address's port ("" when there is none).
func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 {
		return ""
	}
	return port
}

// Name is loadsim.
func (s *Service) Name() string { return config.ServiceLoadsim }

// Start joins the bus.
func (s *Service) Start(context.Context) error { return s.resp.Start() }

// Shutdown leaves the bus and stops every simulation; idempotent.
func (s *Service) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = errors.Join(s.resp.Stop(), s.m.Shutdown(ctx))
	})
	return err
}

func decode(data []byte) (apiv1.Request, error) {
	var req apiv1.Request
	if err := json.Unmarshal(data, &req); err != nil {
		return req, problem.BadRequest("malformed request: " + err.Error())
	}
	return req, nil
}

func (s *Service) start(_ context.Context, data []byte) (any, error) {
	req, err := decode(data)
	if err != nil {
		return nil, err
	}
	var body loadgen.StartRequest
	if err := req.DecodeBody(&body); err != nil {
		return nil, err
	}
	info, err := s.m.Start(req.Principal, body)
	if err != nil {
		return nil, err
	}
	return messaging.StatusReply{Status: 201, Body: info}, nil
}

func (s *Service) list(_ context.Context, data []byte) (any, error) {
	req, err := decode(data)
	if err != nil {
		return nil, err
	}
	limit, err := req.Limit()
	if err != nil {
		return nil, err
	}
	items := s.m.List(req.Principal)
	// The list is bounded by the history size (64 by default), so a cursor
	// is the index of the next item.
	offset := 0
	if c := req.Query.Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > len(items) {
			return nil, problem.BadRequest("invalid cursor", problem.FieldError{Path: "cursor", Message: "not a cursor from a previous page"})
		}
		offset = n
	}
	out := apiv1.List[loadgen.SimulationInfo]{Items: items[offset:min(offset+limit, len(items))]}
	if next := offset + limit; next < len(items) {
		c := strconv.Itoa(next)
		out.NextCursor = &c
	}
	return out, nil
}

func simulationID(req apiv1.Request) (string, error) {
	id := strings.TrimSpace(req.Params["id"])
	if id == "" || len(id) > 64 {
		return "", problem.BadRequest("invalid simulation id", problem.FieldError{Path: "id", Message: "required, at most 64 characters"})
	}
	return id, nil
}

func (s *Service) get(_ context.Context, data []byte) (any, error) {
	req, err := decode(data)
	if err != nil {
		return nil, err
	}
	id, err := simulationID(req)
	if err != nil {
		return nil, err
	}
	return s.m.Get(req.Principal, id)
}

func (s *Service) stop(ctx context.Context, data []byte) (any, error) {
	req, err := decode(data)
	if err != nil {
		return nil, err
	}
	id, err := simulationID(req)
	if err != nil {
		return nil, err
	}
	return s.m.Stop(ctx, req.Principal, id)
}
