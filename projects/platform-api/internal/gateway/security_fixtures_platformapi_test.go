package gateway

// Fixtures for the routes the gateway answers itself.

func init() {
	securityFixtures["/api/v1/users/{user}"] = func(f *fixtureEnv) fixture {
		return fixture{Params: map[string]string{"user": "bruno"}} // admin-only
	}
	securityFixtures["/api/v1/teams/{team}"] = func(f *fixtureEnv) fixture {
		return fixture{Params: map[string]string{"team": "team-b"}}
	}
	securityFixtures["/api/v1/teams/{team}/members/{user}"] = func(f *fixtureEnv) fixture {
		return fixture{Params: map[string]string{"team": "team-b", "user": "bruno"}} // admin-only
	}
	securityFixtures["/api/v1/apikeys/{key}"] = func(f *fixtureEnv) fixture {
		_, id := f.createKey(f.Admin, map[string]any{"name": "team-b-ci", "role": "operator", "scopes": []string{"read"}, "teams": []string{"team-b"}})
		return fixture{Params: map[string]string{"key": id}} // admin-only
	}
}
