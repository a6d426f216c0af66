package gateway

// Fixtures for the anomaly detector's alert routes.

func init() {
	for _, route := range []string{"/api/v1/alerts/{id}", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/{id}/resolve", "/api/v1/alerts/{id}/deliveries"} {
		securityFixtures[route] = func(f *fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "al-0000000000000000000"},
				CrossTeamSkip: "the anomaly detector does not run in the gateway test; projects/anomaly-detector's TestTeamIsolation checks 404 for another team's alert over NATS"}
		}
	}
	for _, route := range []string{"/api/v1/alert-rules/{id}", "/api/v1/silences/{id}", "/api/v1/channels/{id}", "/api/v1/channels/{id}/test"} {
		securityFixtures[route] = func(f *fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "ch-0000000000000000000"},
				CrossTeamSkip: "the anomaly detector does not run in the gateway test; projects/anomaly-detector's TestRuleNotifiesSilencesAndResolves checks 404 for another team's rule, silence, channel and deliveries over NATS"}
		}
	}
}
