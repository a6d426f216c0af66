// Package experimentrun connects the experiment runner
// (internal/experiment) to the real system: the fleet store and OpAMP push
// (Deployer), the generator over NATS (Configs), analytics over NATS
// (Analyzer) and JetStream PHOENIX_EVENTS (Publisher). Each adapter is
// idempotent where the runner's contract says so, because the runner
// repeats a step after a crash.
package experimentrun

import (
	"context"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Requester sends a request over NATS and decodes the reply
// (messaging.Bus implements it).
type Requester interface {
	Request(ctx context.Context, subject string, req, resp any) error
}

// Actor is who the adapters name as the author of what they write
// (deployments, pipeline versions).
const Actor = "experiment-runner"

// service is the principal the adapters use on the services' REST
// subjects: the controller acts for the experiment's team, whose ownership
// the runner already checked when the experiment was created.
var service = apiv1.Principal{Subject: Actor, Kind: "service", Role: "admin"}
