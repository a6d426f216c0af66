package apiv1

import "time"

// The fleet's wire types (GET /api/v1/agents..., POST
// /api/v1/agents/{id}/config), answered by the controller and read by the
// CLI.

// Agent is one supervised collector as the control plane last saw it.
type Agent struct {
	ID           string            `json:"id"`
	Team         string            `json:"team"`
	Hostname     string            `json:"hostname"`
	AgentVersion string            `json:"agent_version"`
	Labels       map[string]string `json:"labels"`
	Connected    bool              `json:"connected"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	// Healthy is null until the agent reports health.
	Healthy             *bool  `json:"healthy"`
	HealthyUnknown      string `json:"healthy_unknown_reason,omitempty"`
	HealthStatus        string `json:"health_status"`
	LastError           string `json:"last_error"`
	EffectiveConfig     string `json:"effective_config,omitempty"`
	EffectiveConfigHash string `json:"effective_config_hash"`
	RemoteConfigStatus  string `json:"remote_config_status"`
	RemoteConfigHash    string `json:"remote_config_hash"`
	RemoteConfigError   string `json:"remote_config_error"`
	DeploymentID        string `json:"deployment_id"`
	PipelineID          string `json:"pipeline_id"`
	PipelineVersion     int    `json:"pipeline_version"`
}

// Deployment is one push of a config to one agent: who, when, why, and what
// the agent answered.
type Deployment struct {
	ID              string    `json:"id"`
	AgentID         string    `json:"agent_id"`
	Kind            string    `json:"kind"`
	PipelineID      string    `json:"pipeline_id,omitempty"`
	PipelineVersion int       `json:"pipeline_version,omitempty"`
	Config          string    `json:"config,omitempty"`
	ConfigHash      string    `json:"config_hash"`
	RollbackOf      string    `json:"rollback_of,omitempty"`
	CreatedBy       string    `json:"created_by"`
	Reason          string    `json:"reason"`
	CreatedAt       time.Time `json:"created_at"`
	Status          string    `json:"status"`
	Error           string    `json:"error"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// PushConfigRequest is the body of POST /api/v1/agents/{id}/config: exactly
// one of a pipeline version, a raw config (admins) or a rollback target.
type PushConfigRequest struct {
	PipelineID string `json:"pipeline_id,omitempty"`
	Version    int    `json:"version,omitempty"`
	Config     string `json:"config,omitempty"`
	RollbackTo string `json:"rollback_to,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// PushConfigResult is the recorded deployment and whether it reached a
// connected agent now (otherwise it is sent when the agent reconnects).
type PushConfigResult struct {
	*Deployment
	Delivered bool `json:"delivered"`
}
