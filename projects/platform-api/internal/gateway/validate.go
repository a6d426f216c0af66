package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// specValidator checks requests against api/openapi.yaml (parameters and
// JSON bodies, including additionalProperties: false) before a handler or a
// service sees them.
type specValidator struct {
	doc    *openapi3.T
	routes map[string]*routers.Route // "METHOD /spec/path"
	opts   *openapi3filter.Options
}

func newSpecValidator(raw []byte) (*specValidator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load openapi for validation: %w", err)
	}
	v := &specValidator{doc: doc, routes: map[string]*routers.Route{}, opts: &openapi3filter.Options{
		MultiError:          true,
		SkipSettingDefaults: true,
		// Authentication already ran in guard.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			v.routes[method+" "+path] = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	return v, nil
}

// maxFieldErrors bounds the errors reported for one request.
const maxFieldErrors = 20

// validate checks r against the operation of pol. The body is read (within
// the body limit) and put back for the handler.
func (v *specValidator) validate(ctx context.Context, r *http.Request, pol policy, params []string) error {
	rt, ok := v.routes[pol.Method+" "+pol.Path]
	if !ok {
		return nil
	}
	if r.Body != nil && mutating(r.Method) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if asMaxBytes(err, &mbe) {
				return problem.New(http.StatusRequestEntityTooLarge, "request body over %d bytes", mbe.Limit)
			}
			return problem.BadRequest("read body: " + err.Error())
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > 0 && r.Header.Get("Content-Type") == "" {
			r.Header.Set("Content-Type", "application/json")
		}
	}
	pp := make(map[string]string, len(params))
	for _, n := range params {
		pp[n] = r.PathValue(n)
	}
	err := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: r, PathParams: pp, Route: rt, Options: v.opts,
	})
	if r.Body != nil {
		// ValidateRequest consumed the body; it leaves a fresh reader when it
		// read one, otherwise rewind ours.
		if s, ok := r.Body.(io.Seeker); ok {
			_, _ = s.Seek(0, io.SeekStart)
		}
	}
	if err == nil {
		return nil
	}
	var fields []problem.FieldError
	var me openapi3.MultiError
	errs := []error{err}
	if errors.As(err, &me) {
		errs = me
	}
	for _, e := range errs {
		if len(fields) == maxFieldErrors {
			break
		}
		fields = append(fields, fieldError(e))
	}
	return problem.BadRequest("request does not match the API contract", fields...)
}

func fieldError(err error) problem.FieldError {
	var re *openapi3filter.RequestError
	var se *openapi3.SchemaError
	path := ""
	if errors.As(err, &re) && re.Parameter != nil {
		path = re.Parameter.Name
	}
	if errors.As(err, &se) {
		if p := se.JSONPointer(); len(p) > 0 {
			path = strings.Join(p, ".")
		}
		return problem.FieldError{Path: path, Message: se.Reason}
	}
	msg := err.Error()
	if errors.As(err, &re) && re.Reason != "" {
		msg = re.Reason
	}
	if path == "" {
		path = "body"
	}
	return problem.FieldError{Path: path, Message: msg}
}
