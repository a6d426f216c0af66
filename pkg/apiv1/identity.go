package apiv1

import "time"

// Identity wire types: users, teams and API keys as /api/v1 answers and
// accepts them (api/openapi.yaml schemas User, Team, APIKey and the create
// and update bodies). The gateway serves them and the CLI reads them; there
// is no other copy. Optional request fields carry omitempty: a client never
// sends null where the contract wants a value or nothing.

// DefaultTeam is created at first start with the bootstrap admin as its
// member, so a fresh server can issue API keys at once.
const DefaultTeam = "default"

// User is a user (never its password).
type User struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	Teams     []string  `json:"teams"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Team is a team with its members' names.
type Team struct {
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is a key (never its hash).
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Scopes    []string   `json:"scopes"`
	Teams     []string   `json:"teams"`
	RateLimit int        `json:"rate_limit_per_minute"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	// Key is the secret, present only in the create answer.
	Key string `json:"key,omitempty"`
}

// CreateUserRequest is POST /api/v1/users.
type CreateUserRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Role     string   `json:"role"`
	Teams    []string `json:"teams,omitempty"`
}

// UpdateUserRequest is PATCH /api/v1/users/{user}: only these fields may
// change (nil: unchanged); anything else is refused as unknown.
type UpdateUserRequest struct {
	Role     *string   `json:"role,omitempty"`
	Password *string   `json:"password,omitempty"`
	Teams    *[]string `json:"teams,omitempty"`
}

// CreateTeamRequest is POST /api/v1/teams.
type CreateTeamRequest struct {
	Name string `json:"name"`
}

// CreateAPIKeyRequest is POST /api/v1/apikeys. Without teams the key acts
// for the caller's teams (DefaultTeam for an admin in none).
type CreateAPIKeyRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Scopes    []string   `json:"scopes"`
	Teams     []string   `json:"teams,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RateLimit raises (or lowers) this key's per-minute limit, e.g. for a
	// CI system or the API benchmark; 0 keeps the configured default.
	RateLimit int `json:"rate_limit_per_minute,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Tokens is the answer of login and refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}
