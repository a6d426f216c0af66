package gateway

// The generator's routes, answered by projects/generator over NATS.
func init() {
	routeSets = append(routeSets, func() []Route {
		return []Route{
			{Method: "GET", Pattern: "/api/v1/pipelines/templates", Subject: "phoenix.generator.templates"},
			{Method: "POST", Pattern: "/api/v1/pipelines/generate", Subject: "phoenix.generator.generate"},
			{Method: "POST", Pattern: "/api/v1/pipelines/validate", Subject: "phoenix.generator.validate"},
			{Method: "GET", Pattern: "/api/v1/pipelines", Subject: "phoenix.generator.pipelines.list"},
			{Method: "POST", Pattern: "/api/v1/pipelines", Subject: "phoenix.generator.pipelines.create"},
			{Method: "GET", Pattern: "/api/v1/pipelines/{id}", Subject: "phoenix.generator.pipelines.get"},
			{Method: "PUT", Pattern: "/api/v1/pipelines/{id}", Subject: "phoenix.generator.pipelines.update"},
			{Method: "DELETE", Pattern: "/api/v1/pipelines/{id}", Subject: "phoenix.generator.pipelines.delete"},
			{Method: "GET", Pattern: "/api/v1/pipelines/{id}/versions", Subject: "phoenix.generator.pipelines.versions"},
			{Method: "GET", Pattern: "/api/v1/pipelines/{id}/versions/{version}", Subject: "phoenix.generator.pipelines.version"},
			{Method: "GET", Pattern: "/api/v1/pipelines/{id}/diff", Subject: "phoenix.generator.pipelines.diff"},
			{Method: "GET", Pattern: "/api/v1/recommendations", Subject: "phoenix.generator.recommendations"},
			{Method: "POST", Pattern: "/api/v1/recommendations", Subject: "phoenix.generator.recommendations"},
		}
	})
}
