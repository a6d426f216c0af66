package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantRetry  string
		wantDetail string
	}{
		{"bad request with fields", BadRequest("invalid pipeline", FieldError{Path: "processors::phoenix_topk::k", Message: "must be positive"}), 400, "", "invalid pipeline"},
		{"wrapped not found", fmt.Errorf("load: %w", NotFound("pipeline %s", "p1")), 404, "", "pipeline p1"},
		{"overload", Unavailable(1500*time.Millisecond, "ingest full"), 503, "2", "ingest full"},
		{"rate limited sub-second", TooManyRequests(100*time.Millisecond, "slow down"), 429, "1", "slow down"},
		{"plain error hides its text", errors.New("pq: password authentication failed for user secret"), 500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, "/api/v1/x", tt.err)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Fatalf("content type %q", ct)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Fatalf("Retry-After %q, want %q", got, tt.wantRetry)
			}
			var body Error
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Status != tt.wantStatus || body.Detail != tt.wantDetail || body.Instance != "/api/v1/x" || body.Title == "" {
				t.Fatalf("body %+v", body)
			}
			if tt.wantStatus == http.StatusBadRequest && (len(body.Errors) != 1 || body.Errors[0].Path != "processors::phoenix_topk::k") {
				t.Fatalf("field errors %+v", body.Errors)
			}
		})
	}
}

func TestWireRoundTrip(t *testing.T) {
	in := BadRequest("nope", FieldError{Path: "a", Message: "b"})
	out := UnmarshalWire(MarshalWire(fmt.Errorf("ctx: %w", in)))
	if out.Status != 400 || out.Detail != "nope" || len(out.Errors) != 1 {
		t.Fatalf("got %+v", out)
	}
	if bad := UnmarshalWire([]byte("garbage")); bad.Status != http.StatusBadGateway {
		t.Fatalf("garbage decoded as %+v", bad)
	}
}
