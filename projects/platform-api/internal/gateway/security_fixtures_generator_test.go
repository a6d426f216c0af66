package gateway

// Fixtures for the generator's routes (answered by the generator over NATS).

func init() {
	const skip = "the generator does not run in the gateway test; projects/generator TestPipelineLifecycle checks 404 for another team's pipeline over NATS"
	for _, p := range []string{"/api/v1/pipelines/{id}", "/api/v1/pipelines/{id}/versions", "/api/v1/pipelines/{id}/diff"} {
		securityFixtures[p] = func(*fixtureEnv) fixture {
			return fixture{Params: map[string]string{"id": "pl-00000000000000b0"}, CrossTeamSkip: skip}
		}
	}
	securityFixtures["/api/v1/pipelines/{id}/versions/{version}"] = func(*fixtureEnv) fixture {
		return fixture{Params: map[string]string{"id": "pl-00000000000000b0", "version": "1"}, CrossTeamSkip: skip}
	}
}

// These POSTs change nothing: they compute a config, validate one, or
// compute recommendations from uploaded files, so viewers may call them
// (POST only because their input is a body).
func init() {
	for _, op := range []string{
		"POST /api/v1/pipelines/generate", "POST /api/v1/pipelines/validate", "POST /api/v1/recommendations",
	} {
		viewerMutations[op] = true
	}
}
