package gateway

import "github.com/phoenix-platform/phoenix/pkg/loadgen"

// The load simulator's routes, answered by the loadsim service.
func init() {
	routeSets = append(routeSets, func() []Route {
		return []Route{
			{Method: "POST", Pattern: "/api/v1/loadsim", Subject: loadgen.SubjectStart},
			{Method: "GET", Pattern: "/api/v1/loadsim", Subject: loadgen.SubjectList},
			{Method: "GET", Pattern: "/api/v1/loadsim/{id}", Subject: loadgen.SubjectGet},
			{Method: "DELETE", Pattern: "/api/v1/loadsim/{id}", Subject: loadgen.SubjectStop},
		}
	})
}
