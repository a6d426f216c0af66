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

// PipelineVersion is one immutable, validated collector config.
type PipelineVersion struct {
	PipelineID string `json:"pipeline_id"`
	Name       string `json:"name"`
	Version    int    `json:"version"`
	Team       string `json:"team"`
	Config     string `json:"config"` // complete collector YAML
	ConfigHash string `json:"config_hash"`
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
	Reason     string `json:"reason,omitempty"`
}
