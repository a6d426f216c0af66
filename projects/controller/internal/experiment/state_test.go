package experiment

import (
	"errors"
	"testing"
)

// TestNextEveryPair checks the whole lifecycle: every state x event pair,
// the legal ones against this table, every other one refused.
func TestNextEveryPair(t *testing.T) {
	legal := map[State]map[Event]State{
		Draft:        {EvStart: Pending, EvCancel: Cancelled, EvError: Errored},
		Pending:      {EvDeploy: Deploying, EvCancel: Cancelled, EvError: Errored},
		Deploying:    {EvDeployed: Warming, EvCancel: Cancelled, EvError: Errored},
		Warming:      {EvWarmedUp: Running, EvCancel: Cancelled, EvError: Errored},
		Running:      {EvElapsed: Analyzing, EvCancel: Cancelled, EvError: Errored},
		Analyzing:    {EvPass: Succeeded, EvFail: Failed, EvNoData: Inconclusive, EvCancel: Cancelled, EvError: Errored},
		Succeeded:    {EvPromote: Promoting, EvCancel: Cancelled, EvError: Errored},
		Failed:       {},
		Inconclusive: {},
		Promoting:    {EvPromoted: Promoted, EvRollback: RolledBack, EvCancel: Cancelled, EvError: Errored},
		Promoted:     {},
		RolledBack:   {},
		Cancelled:    {},
		Errored:      {},
	}
	if len(legal) != len(States) {
		t.Fatalf("table covers %d states, the lifecycle has %d", len(legal), len(States))
	}
	pairs := 0
	for _, s := range States {
		for _, ev := range append(Events, EvCreate, Event("bogus")) {
			pairs++
			to, err := Next(s, ev)
			want, ok := legal[s][ev]
			switch {
			case ok && (err != nil || to != want):
				t.Errorf("%s --%s--> %q, %v; want %s", s, ev, to, err, want)
			case !ok && (err == nil || !errors.Is(err, ErrIllegalTransition) || to != ""):
				t.Errorf("%s --%s--> %q, %v; want refused", s, ev, to, err)
			}
		}
		if s.Terminal() != (len(legal[s]) == 0) {
			t.Errorf("%s: Terminal() = %v but it has %d legal events", s, s.Terminal(), len(legal[s]))
		}
	}
	if pairs != len(States)*(len(Events)+2) {
		t.Fatalf("checked %d pairs", pairs)
	}
	if _, err := Next("paused", EvStart); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("unknown state: %v", err)
	}
}
