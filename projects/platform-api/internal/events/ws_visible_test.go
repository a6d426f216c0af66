package events

import (
	"encoding/json"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// TestTeamTopicsFilterByOwner: list topics relay only events of objects in
// the caller's teams, as the REST lists do.
func TestTeamTopicsFilterByOwner(t *testing.T) {
	teamA := apiv1.Principal{Subject: "alice", Role: "viewer", Teams: []string{"a"}}
	admin := apiv1.Principal{Subject: "root", Role: "admin"}
	tests := []struct {
		topic string
		p     apiv1.Principal
		data  string
		want  bool
	}{
		{"agents", teamA, `{"team":"a","agent_id":"x"}`, true},
		{"agents", teamA, `{"team":"b","agent_id":"x"}`, false},
		{"agents", teamA, `{"agent_id":"x"}`, false},
		{"agents", admin, `{"team":"b"}`, true},
		{"experiments", teamA, `{"team":"b"}`, false},
		{"alerts", teamA, `{"team":"a"}`, true},
		{"rollouts", teamA, `{"team":"a","rollout_id":"ro-1"}`, true},
		{"rollouts", teamA, `{"team":"b","rollout_id":"ro-1"}`, false},
	}
	for _, tt := range tests {
		if got := visible(tt.p, tt.topic, json.RawMessage(tt.data)); got != tt.want {
			t.Errorf("visible(%s, %s, %s) = %v, want %v", tt.p.Subject, tt.topic, tt.data, got, tt.want)
		}
	}
}
