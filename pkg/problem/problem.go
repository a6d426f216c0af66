// Package problem provides Phoenix's typed errors and their rendering as
// RFC 9457 problem details (application/problem+json).
//
// Services return these errors (possibly wrapped); the HTTP layer finds the
// outermost *Error with errors.As and renders it. Any other error becomes a
// 500 whose detail is withheld from the client, because internal messages can
// leak paths, SQL or secrets.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// FieldError names one invalid input. Path uses the input's own form: a JSON
// pointer-ish dotted path for API bodies, `processors::phoenix_topk::k` for
// collector configs.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error is a problem that maps to an HTTP status.
type Error struct {
	Status     int           `json:"status"`
	Title      string        `json:"title"`
	Detail     string        `json:"detail,omitempty"`
	Type       string        `json:"type,omitempty"`
	Instance   string        `json:"instance,omitempty"`
	Errors     []FieldError  `json:"errors,omitempty"`
	RetryAfter time.Duration `json:"-"`
	cause      error
}

func (e *Error) Error() string {
	msg := e.Title
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	for _, fe := range e.Errors {
		msg += "; " + fe.Path + ": " + fe.Message
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Unwrap exposes the cause for errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

// New builds a problem with the status's standard title.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Title: http.StatusText(status), Detail: fmt.Sprintf(format, args...)}
}

// Wrap attaches a cause that is logged but never shown to clients.
func (e *Error) Wrap(cause error) *Error { e.cause = cause; return e }

// BadRequest is a 400 with optional field errors.
func BadRequest(detail string, fields ...FieldError) *Error {
	return &Error{Status: http.StatusBadRequest, Title: "Bad Request", Detail: detail, Errors: fields}
}

// NotFound is a 404. Also used where a caller may not learn that an object exists.
func NotFound(format string, args ...any) *Error { return New(http.StatusNotFound, format, args...) }

// Conflict is a 409, e.g. an optimistic-concurrency failure.
func Conflict(format string, args ...any) *Error { return New(http.StatusConflict, format, args...) }

// Unauthorized is a 401.
func Unauthorized(format string, args ...any) *Error {
	return New(http.StatusUnauthorized, format, args...)
}

// Forbidden is a 403.
func Forbidden(format string, args ...any) *Error { return New(http.StatusForbidden, format, args...) }

// Unavailable is a 503 with a Retry-After hint.
func Unavailable(retry time.Duration, format string, args ...any) *Error {
	e := New(http.StatusServiceUnavailable, format, args...)
	e.RetryAfter = retry
	return e
}

// TooManyRequests is a 429 with a Retry-After hint.
func TooManyRequests(retry time.Duration, format string, args ...any) *Error {
	e := New(http.StatusTooManyRequests, format, args...)
	e.RetryAfter = retry
	return e
}

// From returns the problem inside err, or a 500 that hides err's text.
func From(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	return &Error{Status: http.StatusInternalServerError, Title: "Internal Server Error", cause: err}
}

// Write renders err as problem+json. instance is usually the request path.
func Write(w http.ResponseWriter, instance string, err error) {
	p := From(err)
	out := *p
	if out.Instance == "" {
		out.Instance = instance
	}
	if out.Type == "" {
		out.Type = "about:blank"
	}
	if p.RetryAfter > 0 {
		secs := int(p.RetryAfter.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(&out)
}

// MarshalWire encodes a problem for transport over NATS, keeping the status
// so the gateway can render the service's answer unchanged.
func MarshalWire(err error) []byte {
	p := From(err)
	b, _ := json.Marshal(p)
	return b
}

// UnmarshalWire decodes a problem sent by MarshalWire.
func UnmarshalWire(b []byte) *Error {
	var p Error
	if json.Unmarshal(b, &p) != nil || p.Status == 0 {
		return &Error{Status: http.StatusBadGateway, Title: "Bad Gateway", Detail: "malformed error from service"}
	}
	return &p
}
