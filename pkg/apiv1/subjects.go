package apiv1

import "strings"

// Subject is the rule that maps an API operation to the NATS subject its
// service answers on: phoenix.<service>.rest.<operationId>, with service the
// operation's x-phoenix-service and operationId as api/openapi.yaml spells
// it. The gateway forwards to it and the service subscribes to it (through
// Operations.Endpoints), so neither side writes a subject by hand. The
// "rest" token keeps REST subjects apart from a service's internal ones
// (phoenix.analytics.cardinality) whatever operationIds are added later.
func Subject(service, operationID string) string {
	return subjectPrefix + service + ".rest." + operationID
}

const subjectPrefix = "phoenix."

// validToken reports whether s can be one token of a NATS subject and a
// micro endpoint name: letters, digits, '-' and '_' only.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}

// Service request/reply subjects shared between projects that are not REST
// operations (phoenix.<service>.<operation>).
const (
	// SubjectAuthenticate resolves a bearer token (JWT or phx_ API key) to a
	// Principal. Request AuthenticateRequest, reply Principal or a 401 problem.
	// Ingest (analytics) and OpAMP (agents) use it; callers may cache answers
	// for at most one second so revocations take effect within a second.
	SubjectAuthenticate = "phoenix.platform-api.authenticate"
)

// AuthenticateRequest asks platform-api who a token belongs to.
type AuthenticateRequest struct {
	Token string `json:"token"`
	// Scope, when set, must be granted to an API key (e.g. "ingest", "agent").
	Scope string `json:"scope,omitempty"`
}
