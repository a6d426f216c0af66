package loadgen

import "time"

// The /api/v1/loadsim contract (api/openapi.yaml), shared by the loadsim
// service and the CLI.

// Simulation states.
const (
	StateRunning   = "running"
	StateCompleted = "completed" // ran for its whole duration
	StateStopped   = "stopped"   // stopped by a caller or by shutdown
	StateFailed    = "failed"    // the target kept failing, or the run could not start
)

// StartRequest is the body of POST /api/v1/loadsim.
type StartRequest struct {
	Profile string `json:"profile"`
	// ProfileYAML is the custom profile's YAML, required when Profile is "custom".
	ProfileYAML string `json:"profile_yaml,omitempty"`
	Hosts       int    `json:"hosts"`
	Target      string `json:"target"`
	Protocol    string `json:"protocol,omitempty"` // http|grpc, for a bare host:port target
	Duration    string `json:"duration"`           // Go duration, e.g. "10m"
	Seed        *int64 `json:"seed,omitempty"`     // default: drawn at start and reported
	Interval    string `json:"interval,omitempty"` // default "10s"
	// MaxDatapointsPerSecond caps the send rate; 0 = no cap.
	MaxDatapointsPerSecond float64 `json:"max_datapoints_per_second,omitempty"`
	// Team owns the simulation; default the caller's first team.
	Team string `json:"team,omitempty"`
}

// SimulationInfo is a simulation as the API shows it.
type SimulationInfo struct {
	ID                     string     `json:"id"`
	Profile                string     `json:"profile"`
	Hosts                  int        `json:"hosts"`
	Target                 string     `json:"target"`
	Seed                   int64      `json:"seed"`
	Interval               string     `json:"interval"`
	Duration               string     `json:"duration"`
	MaxDatapointsPerSecond float64    `json:"max_datapoints_per_second,omitempty"`
	Team                   string     `json:"team"`
	CreatedBy              string     `json:"created_by"`
	State                  string     `json:"state"`
	StartedAt              time.Time  `json:"started_at"`
	EndedAt                *time.Time `json:"ended_at"`
	Error                  string     `json:"error,omitempty"`
	Stats                  Stats      `json:"stats"`
}
