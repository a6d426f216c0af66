package experiment

import (
	"errors"
	"fmt"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// State is where an experiment is in its lifecycle.
type State string

// States, in lifecycle order; the names are the API's (pkg/apiv1).
const (
	Draft        State = apiv1.ExperimentDraft        // created, editable, not started
	Pending      State = apiv1.ExperimentPending      // started; waits for its agents to be free
	Deploying    State = apiv1.ExperimentDeploying    // the fan-out config is being pushed to the agents
	Warming      State = apiv1.ExperimentWarming      // every agent runs it; data is not measured yet
	Running      State = apiv1.ExperimentRunning      // measured
	Analyzing    State = apiv1.ExperimentAnalyzing    // agents restored; the verdict is being computed
	Succeeded    State = apiv1.ExperimentSucceeded    // a candidate passed every criterion
	Failed       State = apiv1.ExperimentFailed       // every candidate failed a criterion
	Inconclusive State = apiv1.ExperimentInconclusive // no data or too little: never a success
	Promoting    State = apiv1.ExperimentPromoting    // the winner is being rolled out
	Promoted     State = apiv1.ExperimentPromoted     // the winner is the agents' production pipeline
	RolledBack   State = apiv1.ExperimentRolledBack   // the promotion was undone
	Cancelled    State = apiv1.ExperimentCancelled    // stopped by a user
	Errored      State = apiv1.ExperimentErrored      // stopped by a fault it cannot recover from
)

// States lists every state in lifecycle order.
var States = []State{Draft, Pending, Deploying, Warming, Running, Analyzing, Succeeded, Failed, Inconclusive,
	Promoting, Promoted, RolledBack, Cancelled, Errored}

// Event is what moves an experiment from one state to the next.
type Event string

// Events. A user sends start, promote (approve) and cancel (stop); the
// runner sends the others.
const (
	EvStart    Event = "start"     // draft -> pending
	EvDeploy   Event = "deploy"    // pending -> deploying: the agents are free
	EvDeployed Event = "deployed"  // deploying -> warming: every agent applied the config
	EvWarmedUp Event = "warmed_up" // warming -> running
	EvElapsed  Event = "elapsed"   // running -> analyzing: the duration is over
	EvPass     Event = "pass"      // analyzing -> succeeded
	EvFail     Event = "fail"      // analyzing -> failed
	EvNoData   Event = "no_data"   // analyzing -> inconclusive
	EvPromote  Event = "promote"   // succeeded -> promoting (on_success promote, or an approval)
	EvPromoted Event = "promoted"  // promoting -> promoted: the rollout reached every agent
	EvRollback Event = "rollback"  // promoting -> rolled_back: a step failed, or a user aborted
	EvCancel   Event = "cancel"    // any non-terminal state -> cancelled
	EvError    Event = "error"     // any non-terminal state -> errored
	EvCreate   Event = "create"    // only in the transition log: the first entry
)

// Events lists every event a transition can take (EvCreate only names the
// log's first entry).
var Events = []Event{EvStart, EvDeploy, EvDeployed, EvWarmedUp, EvElapsed, EvPass, EvFail, EvNoData,
	EvPromote, EvPromoted, EvRollback, EvCancel, EvError}

// transitions holds the lifecycle's edges except cancel and error, which
// leave every non-terminal state.
var transitions = map[State]map[Event]State{
	Draft:     {EvStart: Pending},
	Pending:   {EvDeploy: Deploying},
	Deploying: {EvDeployed: Warming},
	Warming:   {EvWarmedUp: Running},
	Running:   {EvElapsed: Analyzing},
	Analyzing: {EvPass: Succeeded, EvFail: Failed, EvNoData: Inconclusive},
	Succeeded: {EvPromote: Promoting},
	Promoting: {EvPromoted: Promoted, EvRollback: RolledBack},
}

// Terminal reports whether s is final: no event leaves it. Succeeded is
// not: it waits for a promotion (or a cancel). A promotion, once complete,
// is undone by a new rollout of the previous pipeline, not by the
// experiment.
func (s State) Terminal() bool { return apiv1.ExperimentTerminal(string(s)) }

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok || s.Terminal()
}

// Agents reports whether the experiment may have its config on agents in
// state s: the runner restores them before it leaves such a state for a
// stopped one, and the scheduler counts these as holding their agents.
func (s State) Agents() bool {
	switch s {
	case Deploying, Warming, Running, Analyzing, Promoting:
		return true
	}
	return false
}

// ErrIllegalTransition reports an event the current state does not take.
var ErrIllegalTransition = errors.New("illegal transition")

// Next is the lifecycle: the state ev leads to from s, or an error wrapping
// ErrIllegalTransition. It is pure; the store applies it atomically.
func Next(s State, ev Event) (State, error) {
	if !s.Valid() {
		return "", fmt.Errorf("%w: unknown state %q", ErrIllegalTransition, s)
	}
	if s.Terminal() {
		return "", fmt.Errorf("%w: %s is final; %s does not apply", ErrIllegalTransition, s, ev)
	}
	switch ev {
	case EvCancel:
		return Cancelled, nil
	case EvError:
		return Errored, nil
	}
	if to, ok := transitions[s][ev]; ok {
		return to, nil
	}
	return "", fmt.Errorf("%w: %s does not apply in state %s", ErrIllegalTransition, ev, s)
}
