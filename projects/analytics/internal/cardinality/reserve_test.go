package cardinality

import (
	"errors"
	"fmt"
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// TestReserve: reservations are validated, bounded, refuse another team's
// stream or reservation, and replace their own.
func TestReserve(t *testing.T) {
	clk := newClock()
	tr := New(Limits{}, clk.now)
	later := clk.now().Add(time.Hour)
	applyOTLP(t, tr, "owned--by-a", otlptest.Marshal(otlptest.Request(otlptest.RM(nil, otlptest.Gauge("m", 1, nil))))) // team-a's stream
	for _, c := range []struct {
		name    string
		team    string
		streams []string
		agents  []string
		until   time.Time
		want    error
	}{
		{"ok", "team-b", []string{"exp--baseline", "exp--cand"}, []string{"agent-1"}, later, nil},
		{"again, other agents", "team-b", []string{"exp--baseline", "exp--cand"}, []string{"agent-2"}, later, nil},
		{"no team", "", []string{"x--y"}, []string{"a"}, later, ErrReservationInvalid},
		{"not a variant stream", "team-b", []string{"plain"}, []string{"a"}, later, ErrReservationInvalid},
		{"no agents", "team-b", []string{"x--y"}, nil, later, ErrReservationInvalid},
		{"bad agent id", "team-b", []string{"x--y"}, []string{"a b"}, later, ErrReservationInvalid},
		{"past", "team-b", []string{"x--y"}, []string{"a"}, clk.now(), ErrReservationInvalid},
		{"too far", "team-b", []string{"x--y"}, []string{"a"}, clk.now().Add(MaxReservationTTL + time.Second), ErrReservationInvalid},
		{"another team's stream", "team-b", []string{"owned--by-a"}, []string{"a"}, later, ErrReservationConflict},
		{"another team's reservation", "team-c", []string{"exp--cand"}, []string{"a"}, later, ErrReservationConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tr.Reserve(c.team, c.streams, c.agents, c.until)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Reserve: %v, want %v", err, c.want)
			}
		})
	}
	if tr.Admits("exp--baseline", true, "agent-1") || !tr.Admits("exp--baseline", true, "agent-2") || !tr.Admits("exp--baseline", false, "") {
		t.Error("the repeated reservation did not replace the agents")
	}
	// The table is bounded; expired reservations make room.
	for i := 0; tr.Reservations() < MaxReservations; i++ {
		if err := tr.Reserve("team-d", []string{fmt.Sprintf("fill%d--v", i)}, []string{"a"}, clk.now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Reserve("team-d", []string{"one--more"}, []string{"a"}, later); !errors.Is(err, ErrReservationsFull) {
		t.Fatalf("past the bound: %v", err)
	}
	clk.add(2 * time.Minute)
	if err := tr.Reserve("team-d", []string{"one--more"}, []string{"a"}, later); err != nil || tr.Reservations() != 3 {
		t.Fatalf("after the fillers expired: %v, %d held", err, tr.Reservations())
	}
}

// TestReservedStreamWrites: a checked caller writes into a reserved stream
// only as one of its agents (refused as stream_forbidden otherwise, nothing
// counted in the stream); the stream is created owned by the reservation's
// team; unchecked (open) ingest is not restricted; an expired reservation
// stops restricting.
func TestReservedStreamWrites(t *testing.T) {
	clk := newClock()
	tr := New(Limits{}, clk.now)
	if err := tr.Reserve("team-x", []string{"exp--cand"}, []string{"agent-1"}, clk.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	body := otlptest.Marshal(otlptest.Request(otlptest.RM([]*common.KeyValue{
		otlptest.KV("phoenix.experiment.id", "exp"), otlptest.KV("phoenix.variant", "cand")}, otlptest.Gauge("m", 1, nil))))
	write := func(checked bool, agent, team string) Result {
		b := tr.Batch("", team)
		b.Restrict([]string{"team-x"})
		if checked {
			b.Caller(agent)
		}
		if err := otlpwire.Walk(body, b); err != nil {
			b.Discard()
			t.Fatal(err)
		}
		return b.Done()
	}
	for _, c := range []struct {
		name    string
		checked bool
		agent   string
		points  int64
	}{
		{"team key, no agent", true, "", 0},
		{"another agent", true, "agent-9", 0},
		{"the experiment's agent", true, "agent-1", 1},
		{"open ingest", false, "", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := write(c.checked, c.agent, "team-x")
			if r.Points != c.points || c.points == 0 && (r.Forbidden != 1 || r.Reason != RefusedForbidden || len(r.ForbiddenStreams) != 1) {
				t.Fatalf("%+v, want %d points", r, c.points)
			}
		})
	}
	if st := tr.Stream("exp--cand"); st == nil || st.Team() != "team-x" {
		t.Fatalf("stream %v, want it owned by the reservation's team", st)
	}
	if rep := report(t, tr, "exp--cand"); rep.Refused[RefusedForbidden] != 0 {
		t.Errorf("refusals counted in the reserved stream: %v", rep.Refused)
	}
	clk.add(2 * time.Hour)
	if r := write(true, "", "team-x"); r.Points != 1 {
		t.Fatalf("after the reservation expired: %+v", r)
	}
}
