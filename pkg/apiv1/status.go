package apiv1

// ServiceStatus is one service's health, as it answers phoenix.<service>.status.
type ServiceStatus struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Instance string `json:"instance"`
	Health   string `json:"health"` // ok, degraded or unreachable
	Detail   string `json:"detail,omitempty"`
}

// StatusReport is the answer of GET /api/v1/status.
type StatusReport struct {
	Services []ServiceStatus `json:"services"`
}
