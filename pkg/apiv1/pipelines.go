package apiv1

// Pipelines are owned by the generator; other services fetch a stored
// version by id over NATS to deploy it.
const (
	// SubjectPipelineVersion answers a stored pipeline version.
	// Request PipelineVersionRequest, reply PipelineVersion or a 404 problem.
	SubjectPipelineVersion = "phoenix.generator.pipeline_version"
)

// PipelineVersionRequest names one immutable version of a pipeline.
// Version 0 means the latest.
type PipelineVersionRequest struct {
	PipelineID string `json:"pipeline_id"`
	Version    int    `json:"version"`
}

// PipelineVersion is one immutable, validated collector config: the answer
// of SubjectPipelineVersion, of GET /api/v1/pipelines/{id}/versions/{version}
// and an item of GET /api/v1/pipelines/{id}/versions (where Config is left
// out).
type PipelineVersion struct {
	PipelineID string `json:"pipeline_id"`
	Name       string `json:"name"`
	Version    int    `json:"version"`
	Team       string `json:"team"`
	Config     string `json:"config,omitempty"` // complete collector YAML
	ConfigHash string `json:"config_hash"`
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
	Reason     string `json:"reason,omitempty"`
}

// Pipeline is one item of GET /api/v1/pipelines: a named, team-owned
// sequence of versions.
type Pipeline struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Team        string `json:"team"`
	Version     int    `json:"version"` // latest
	CreatedBy   string `json:"created_by"`
	CreatedAt   string `json:"created_at"`
	UpdatedBy   string `json:"updated_by"`
	UpdatedAt   string `json:"updated_at"`
}

// PipelineDetail is a pipeline with its latest version's config: the answer
// of GET, POST and PUT on /api/v1/pipelines[/{id}].
type PipelineDetail struct {
	Pipeline
	Config     string `json:"config"`
	ConfigHash string `json:"config_hash"`
	Reason     string `json:"reason"`
}

// PipelineDiff is GET /api/v1/pipelines/{id}/diff: a unified line diff
// between two versions.
type PipelineDiff struct {
	PipelineID string `json:"pipeline_id"`
	From       int    `json:"from"`
	To         int    `json:"to"`
	Diff       string `json:"diff"`
}
