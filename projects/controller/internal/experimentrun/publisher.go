package experimentrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/experiment"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/rollout"
)

// EventTransition is the type of an experiment's transition event.
const EventTransition = "transition"

// TransitionData is the data of an experiment event: the transition and
// the experiment's team (the WebSocket hub filters by it).
type TransitionData struct {
	experiment.Transition
	Team string `json:"team"`
}

// Publisher is experiment.Publisher over JetStream: subject
// phoenix.events.experiment.<id> on PHOENIX_EVENTS, deduplicated by
// Nats-Msg-Id <id>/<seq>, so a transition the runner publishes again after
// a crash is stored once (within the stream's duplicate window).
type Publisher struct {
	JS    jetstream.JetStream
	Store *experiment.Store
}

var _ experiment.Publisher = (*Publisher)(nil)

// Publish stores one transition event.
func (p *Publisher) Publish(ctx context.Context, t experiment.Transition) error {
	rec, err := p.Store.Get(ctx, t.ExperimentID)
	if err != nil {
		return fmt.Errorf("team of experiment %s: %w", t.ExperimentID, err)
	}
	data, err := json.Marshal(TransitionData{Transition: t, Team: rec.Team})
	if err != nil {
		return fmt.Errorf("encode experiment event: %w", err)
	}
	ev, err := json.Marshal(messaging.Event{Kind: messaging.KindExperiment, ID: t.ExperimentID, Type: EventTransition, Time: t.At, Data: data})
	if err != nil {
		return fmt.Errorf("encode experiment event: %w", err)
	}
	msg := &nats.Msg{Subject: messaging.EventSubject(messaging.KindExperiment, t.ExperimentID), Data: ev, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, MsgID(t))
	if _, err := p.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish experiment event: %w", err)
	}
	return nil
}

// MsgID is the deduplication id of a transition event.
func MsgID(t experiment.Transition) string {
	return t.ExperimentID + "/" + strconv.FormatInt(t.Seq, 10)
}

// EventRollout is the type of a rollout's events.
const EventRollout = "transition"

// RolloutPublisher is rollout.Publisher over JetStream: subject
// phoenix.events.rollout.<id> on PHOENIX_EVENTS, deduplicated by
// Nats-Msg-Id rollout/<id>/<version>.
type RolloutPublisher struct {
	JS jetstream.JetStream
}

var _ rollout.Publisher = (*RolloutPublisher)(nil)

// Publish stores one rollout event.
func (p *RolloutPublisher) Publish(ctx context.Context, e rollout.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode rollout event: %w", err)
	}
	ev, err := json.Marshal(messaging.Event{Kind: messaging.KindRollout, ID: e.RolloutID, Type: EventRollout, Time: e.At, Data: data})
	if err != nil {
		return fmt.Errorf("encode rollout event: %w", err)
	}
	msg := &nats.Msg{Subject: messaging.EventSubject(messaging.KindRollout, e.RolloutID), Data: ev, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "rollout/"+e.RolloutID+"/"+strconv.FormatInt(e.Version, 10))
	if _, err := p.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish rollout event: %w", err)
	}
	return nil
}
