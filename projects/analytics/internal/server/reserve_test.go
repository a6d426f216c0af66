package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// TestReserveStreamsAnswers: the reservation subject answers each outcome
// with the status the controller acts on (400 fails the experiment, 409
// names the team holding a stream, success lists the streams).
func TestReserveStreamsAnswers(t *testing.T) {
	tr := cardinality.New(cardinality.Limits{}, nil)
	s := &Service{tracker: tr, log: slog.New(slog.DiscardHandler)}
	until := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name   string
		req    apiv1.StreamReservation
		status int // 0: success
	}{
		{"reserved", apiv1.StreamReservation{Experiment: "e", Team: "a", Streams: []string{"e--baseline", "e--c"}, Agents: []string{"agent-1"}, Until: until}, 0},
		{"invalid", apiv1.StreamReservation{Experiment: "e", Team: "a", Streams: []string{"plain"}, Agents: []string{"agent-1"}, Until: until}, http.StatusBadRequest},
		{"another team", apiv1.StreamReservation{Experiment: "e", Team: "b", Streams: []string{"e--c"}, Agents: []string{"agent-1"}, Until: until}, http.StatusConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := json.Marshal(c.req)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.natsReserveStreams(context.Background(), data)
			if c.status == 0 {
				if rep, ok := out.(apiv1.StreamReservationReply); err != nil || !ok || len(rep.Streams) != 2 {
					t.Fatalf("%v %v", out, err)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != c.status {
				t.Fatalf("err %v, want status %d", err, c.status)
			}
		})
	}
	if tr.Admits("e--c", true, "") || !tr.Admits("e--c", true, "agent-1") {
		t.Error("the reservation does not hold")
	}
}

// TestReserveStreamsOpenIngest: with open ingest (--dev) no writer is
// checked, so a stream the open loop created for another team does not
// fail the experiment.
func TestReserveStreamsOpenIngest(t *testing.T) {
	tr := cardinality.New(cardinality.Limits{}, nil)
	if err := tr.Reserve("default", []string{"e--c"}, []string{"agent-0"}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Server{}
	cfg.Auth.IngestOpen = true
	s := &Service{tracker: tr, log: slog.New(slog.DiscardHandler), set: service.Settings{Config: cfg}}
	data, _ := json.Marshal(apiv1.StreamReservation{Experiment: "e", Team: "payments", Streams: []string{"e--c"}, Agents: []string{"agent-1"}, Until: time.Now().Add(time.Hour)})
	if _, err := s.natsReserveStreams(context.Background(), data); err != nil {
		t.Fatalf("open ingest: %v", err)
	}
}
