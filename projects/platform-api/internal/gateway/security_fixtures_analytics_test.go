package gateway

// Fixtures for the analytics routes (answered by analytics over NATS).

func init() {
	const skip = "analytics does not run in the gateway test; projects/analytics TestServiceEndToEnd checks 404 for another team's stream over NATS"
	for _, p := range []string{"/api/v1/streams/{stream}/cardinality", "/api/v1/streams/{stream}/rollups"} {
		securityFixtures[p] = func(*fixtureEnv) fixture {
			return fixture{Params: map[string]string{"stream": "team-b-stream"}, CrossTeamSkip: skip}
		}
	}
}
