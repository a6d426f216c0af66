package gateway

// Fixtures for the fleet's routes (answered by the controller over NATS).

func init() {
	const skip = "the controller does not run in the gateway test; tests/e2e TestFleetLifecycle checks 404 for another team's agent over NATS"
	for _, p := range []string{"/api/v1/agents/{id}", "/api/v1/agents/{id}/config", "/api/v1/agents/{id}/history"} {
		securityFixtures[p] = func(*fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "01a21fa5-0000-7000-8000-0000000000b0"}, CrossTeamSkip: skip}
		}
	}
}

// Fixtures for the experiment routes (answered by the controller over NATS).
func init() {
	const skip = "the controller does not run in the gateway test; tests/e2e TestExperimentAPI checks 404 for another team's experiment through the gateway"
	for _, p := range []string{"/api/v1/experiments/{id}", "/api/v1/experiments/{id}/start", "/api/v1/experiments/{id}/stop",
		"/api/v1/experiments/{id}/approve", "/api/v1/experiments/{id}/promote", "/api/v1/experiments/{id}/rollback",
		"/api/v1/experiments/{id}/events", "/api/v1/experiments/{id}/results"} {
		securityFixtures[p] = func(*fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "exp-00000000000000b0"}, CrossTeamSkip: skip}
		}
	}
}

// Fixtures for the rollout routes (answered by the controller over NATS).
func init() {
	const skip = "the controller does not run in the gateway test; tests/e2e TestRolloutAPI checks 404 for another team's rollout through the gateway"
	for _, p := range []string{"/api/v1/rollouts/{id}", "/api/v1/rollouts/{id}/abort"} {
		securityFixtures[p] = func(*fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "ro-00000000000000b0"}, CrossTeamSkip: skip}
		}
	}
}
