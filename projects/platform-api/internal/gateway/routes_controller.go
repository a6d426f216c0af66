package gateway

// The fleet's routes, answered by the controller over NATS
// (projects/controller/internal/fleetapi).
func init() {
	routeSets = append(routeSets, func() []Route {
		return []Route{
			{Method: "GET", Pattern: "/api/v1/agents", Subject: "phoenix.controller.agents.list"},
			{Method: "GET", Pattern: "/api/v1/agents/{id}", Subject: "phoenix.controller.agents.get"},
			{Method: "POST", Pattern: "/api/v1/agents/{id}/config", Subject: "phoenix.controller.agents.config"},
			{Method: "GET", Pattern: "/api/v1/agents/{id}/history", Subject: "phoenix.controller.agents.history"},
		}
	})
}
