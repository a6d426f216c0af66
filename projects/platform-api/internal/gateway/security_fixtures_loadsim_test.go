package gateway

// Fixtures for the load simulator's routes.

func init() {
	securityFixtures["/api/v1/loadsim/{id}"] = func(f *fixtureEnv) fixture {
		return fixture{Params: map[string]string{"id": "ls-00000000000000b0"},
			CrossTeamSkip: "the loadsim service does not run in the gateway test; projects/loadsim's TestTeamIsolation checks 404 for another team's simulation over NATS"}
	}
}
