package gateway

// Fixtures for the anomaly detector's alert routes.

func init() {
	for _, route := range []string{"/api/v1/alerts/{id}", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/{id}/resolve"} {
		securityFixtures[route] = func(f *fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "al-0000000000000000000"},
				CrossTeamSkip: "the anomaly detector does not run in the gateway test; projects/anomaly-detector's TestTeamIsolation checks 404 for another team's alert over NATS"}
		}
	}
}
