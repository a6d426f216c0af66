package gateway

// Adaptive policies (controller, issue 16).
func init() {
	const skip = "the controller does not run in the gateway test; tests/e2e TestAdaptiveControl checks 404 for another team's policy " +
		"through the gateway, and projects/controller/internal/adaptiveapi TestRBAC for get, update and delete"
	securityFixtures["/api/v1/adaptive/policies/{id}"] = func(*fixtureEnv) fixture {
		return fixture{Params: map[string]string{"id": "ap-00000000000000b0"}, CrossTeamSkip: skip}
	}
}
