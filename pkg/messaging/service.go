package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// headerErrorCode is set by micro's Request.Error.
const headerErrorCode = "Nats-Service-Error-Code"

// headerStatus carries a StatusReply's status.
const headerStatus = "Phoenix-Status"

// StatusReply is a handler result with an HTTP-style status (201, 202, 204)
// for the gateway to answer with.
type StatusReply struct {
	Status int
	Body   any
}

// Observer records handler outcomes; telemetry.Metrics implements it.
type Observer interface {
	ObserveNATS(subject, outcome string, d time.Duration)
}

// Handler serves one request: data is the JSON body, the result is encoded
// as JSON. Returning a *problem.Error sends that status to the caller.
type Handler func(ctx context.Context, data []byte) (any, error)

// Endpoint binds a Handler to a subject.
type Endpoint struct {
	Name    string // micro endpoint name
	Subject string // phoenix.<service>.<operation>
	Handler Handler
}

// ServiceConfig describes a micro service.
type ServiceConfig struct {
	Name        string
	Version     string
	Description string
	Metadata    map[string]string
	Timeout     time.Duration // per-request deadline given to handlers
	// MaxConcurrent bounds the requests the service's handlers serve at
	// once (default DefaultMaxConcurrent). micro delivers each endpoint's
	// requests on one goroutine, so without this a slow request (a
	// collector validation, a database write) would hold up every other
	// request to the same endpoint. When all slots are taken the delivery
	// goroutine waits, and NATS buffers (bounded by the connection's
	// pending limits) until a slot frees.
	MaxConcurrent int
	Observer      Observer
	Endpoints     []Endpoint
}

// DefaultMaxConcurrent is a service's default bound on requests in flight.
const DefaultMaxConcurrent = 64

// Service is a running micro service whose Stop also waits for the
// requests in flight, so no handler outlives it.
type Service struct {
	micro.Service
	inflight *sync.WaitGroup
}

// Stop takes the service off the bus, then waits for its handlers.
func (s *Service) Stop() error {
	err := s.Service.Stop()
	s.inflight.Wait()
	return err
}

// AddService registers a micro service (so `$SRV.PING.<name>` answers) with
// its endpoints. Stop the returned service to take it off the bus.
func (b *Bus) AddService(cfg ServiceConfig) (*Service, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	slots := make(chan struct{}, cfg.MaxConcurrent)
	inflight := &sync.WaitGroup{}
	svc, err := micro.AddService(b.Conn, micro.Config{
		Name: cfg.Name, Version: cfg.Version, Description: cfg.Description, Metadata: cfg.Metadata,
	})
	if err != nil {
		return nil, fmt.Errorf("add nats service %s: %w", cfg.Name, err)
	}
	for _, ep := range cfg.Endpoints {
		h := concurrently(b.Conn, wrap(ep, cfg, b.Conn.MaxPayload), slots, inflight)
		if err := svc.AddEndpoint(ep.Name, h, micro.WithEndpointSubject(ep.Subject)); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("add endpoint %s: %w", ep.Subject, err)
		}
	}
	return &Service{Service: svc, inflight: inflight}, nil
}

// concurrently serves each request on its own goroutine once one of slots
// is free; the delivery goroutine waits for a slot, which bounds both the
// goroutines and the work in flight. The goroutine answers through a
// detached copy of the request: micro reads its own request's error state
// once Handle returns, which is before the goroutine answers.
func concurrently(nc *nats.Conn, h micro.Handler, slots chan struct{}, inflight *sync.WaitGroup) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		d := &detached{nc: nc, data: req.Data(), headers: req.Headers(), subject: req.Subject(), reply: req.Reply()}
		slots <- struct{}{}
		inflight.Add(1)
		go func() {
			defer func() { <-slots; inflight.Done() }()
			h.Handle(d)
		}()
	})
}

// detached is a micro.Request answered by publishing to its reply subject,
// with the same headers micro's own Respond and Error set.
type detached struct {
	nc      *nats.Conn
	data    []byte
	headers micro.Headers
	subject string
	reply   string
}

func (d *detached) Data() []byte           { return d.data }
func (d *detached) Headers() micro.Headers { return d.headers }
func (d *detached) Subject() string        { return d.subject }
func (d *detached) Reply() string          { return d.reply }

func (d *detached) Respond(data []byte, opts ...micro.RespondOpt) error {
	return d.publish(&nats.Msg{Data: data}, opts)
}

func (d *detached) RespondJSON(v any, opts ...micro.RespondOpt) error {
	data, err := json.Marshal(v)
	if err != nil {
		return micro.ErrMarshalResponse
	}
	return d.Respond(data, opts...)
}

func (d *detached) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	msg := &nats.Msg{Data: data, Header: nats.Header{micro.ErrorHeader: {description}, micro.ErrorCodeHeader: {code}}}
	return d.publish(msg, opts)
}

func (d *detached) publish(msg *nats.Msg, opts []micro.RespondOpt) error {
	if d.reply == "" {
		return nil // a publish, not a request: nobody waits for an answer
	}
	for _, opt := range opts {
		opt(msg)
	}
	msg.Subject = d.reply
	if err := d.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("reply to %s: %w", d.subject, err)
	}
	return nil
}

// replyHeaderRoom is what wrap keeps free of a reply's payload for the
// headers micro and Phoenix add (status, error code and description): NATS
// counts headers and data together against the connection's max payload.
const replyHeaderRoom = 1024

// tooLarge is the problem answered instead of a reply the bus would refuse:
// NATS drops an oversized publish, so without it the caller only sees its
// own timeout (a gateway 503) and nobody learns why.
func tooLarge(size int, maxPayload int64) *problem.Error {
	return problem.New(http.StatusInternalServerError,
		"reply too large: %d bytes (plus headers) for a bus limit of %d; page or narrow the request", size, maxPayload)
}

// wrap turns a Handler into a micro handler: it applies the deadline,
// encodes the result or the problem, and answers a reply larger than
// maxPayload (the connection's limit, read per reply: a reconnect may
// change it) with a problem instead of nothing.
func wrap(ep Endpoint, cfg ServiceConfig, maxPayload func() int64) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		out, err := safeCall(ctx, ep.Handler, req.Data())
		outcome := "ok"
		if err != nil {
			outcome = "error"
			p := problem.From(err)
			_ = req.Error(strconv.Itoa(p.Status), p.Title, problem.MarshalWire(p))
		} else {
			var hdr micro.Headers
			if sr, ok := out.(StatusReply); ok {
				hdr = micro.Headers{headerStatus: []string{strconv.Itoa(sr.Status)}}
				out = sr.Body
			}
			var data []byte
			var merr error
			if out != nil {
				data, merr = json.Marshal(out)
			}
			limit := maxPayload()
			switch {
			case merr != nil:
				outcome = "error"
				p := problem.New(http.StatusInternalServerError, "encode reply").Wrap(merr)
				_ = req.Error("500", p.Title, problem.MarshalWire(p))
			case limit > 0 && int64(len(data))+replyHeaderRoom > limit:
				outcome = "error"
				p := tooLarge(len(data), limit)
				_ = req.Error(strconv.Itoa(p.Status), p.Title, problem.MarshalWire(p))
			default:
				if rerr := req.Respond(data, micro.WithHeaders(hdr)); errors.Is(rerr, nats.ErrMaxPayload) {
					outcome = "error"
					p := tooLarge(len(data), limit)
					_ = req.Error(strconv.Itoa(p.Status), p.Title, problem.MarshalWire(p))
				}
			}
		}
		if cfg.Observer != nil {
			cfg.Observer.ObserveNATS(ep.Subject, outcome, time.Since(start))
		}
	})
}

// safeCall keeps a panicking handler from taking the process down.
func safeCall(ctx context.Context, h Handler, data []byte) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, data)
}

// Decode unmarshals a request body, answering 400 on malformed JSON.
func Decode(data []byte, v any) error {
	if len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return problem.BadRequest("malformed request: " + err.Error())
	}
	return nil
}
