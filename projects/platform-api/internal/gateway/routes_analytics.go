package gateway

import "github.com/phoenix-platform/phoenix/pkg/apiv1"

// The analytics routes, answered by projects/analytics over NATS.
func init() {
	routeSets = append(routeSets, func() []Route {
		return []Route{
			{Method: "GET", Pattern: "/api/v1/streams", Subject: apiv1.SubjectAnalyticsRESTStreams},
			{Method: "GET", Pattern: "/api/v1/streams/{stream}/cardinality", Subject: apiv1.SubjectAnalyticsRESTCardinality},
			{Method: "GET", Pattern: "/api/v1/streams/{stream}/rollups", Subject: apiv1.SubjectAnalyticsRESTRollups},
			{Method: "GET", Pattern: "/api/v1/cost", Subject: apiv1.SubjectAnalyticsRESTCost},
			{Method: "GET", Pattern: "/api/v1/compare", Subject: apiv1.SubjectAnalyticsRESTCompare},
		}
	})
}
