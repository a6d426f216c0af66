package apiv1

// Service request/reply subjects shared between projects (phoenix.<service>.<operation>).
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
