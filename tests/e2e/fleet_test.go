package e2e

import (
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

var syscallZero = syscall.Signal(0)

// TestFleetLifecycle drives one agent and a stand-in collector process
// through the whole fleet contract: enrol, push, reject an invalid config,
// fall back from an unhealthy one, restart a killed collector, roll back,
// survive the control plane going away, and team visibility.
func TestFleetLifecycle(t *testing.T) {
	bin := fakeCollector(t)
	cfg := newConfig(t, "controller")
	cp := start(t, cfg)
	agentDir := t.TempDir()
	ag := startAgentWith(t, cp.opampURL(), bin, agentDir, "", 5*time.Second)
	id := ag.ID()

	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := cp.agent(t, id)
		return ok && v.Connected && v.Labels["env"] == "e2e" && v.Team == "default"
	}, "agent %s never enrolled", id)

	good := fakeConfig("", testutil.FreeAddr(t))
	d1 := cp.push(t, id, map[string]any{"config": good, "reason": "first config"})
	if d1.Kind != "raw" || d1.CreatedBy != "alice" || d1.Reason != "first config" {
		t.Fatalf("deployment record: %+v", d1)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		v, _ := cp.agent(t, id)
		return v.EffectiveConfigHash == d1.ConfigHash && v.RemoteConfigStatus == "applied" && v.Healthy != nil && *v.Healthy
	}, "first config never effective and healthy")
	pid := ag.CollectorPID()
	if pid == 0 || !alive(pid) {
		t.Fatalf("collector pid %d not running", pid)
	}

	t.Run("invalid config is rejected and the last good keeps running", func(t *testing.T) {
		d := cp.push(t, id, map[string]any{"config": fakeConfig("invalid: true", testutil.FreeAddr(t)), "reason": "broken"})
		testutil.Eventually(t, 20*time.Second, func() bool {
			v, _ := cp.agent(t, id)
			return v.RemoteConfigStatus == "failed" && v.RemoteConfigHash == d.ConfigHash &&
				strings.Contains(v.RemoteConfigError, "invalid keys")
		}, "invalid config not reported failed")
		v, _ := cp.agent(t, id)
		if v.EffectiveConfigHash != d1.ConfigHash || ag.CollectorPID() != pid || !alive(pid) {
			t.Fatalf("the last good config must keep running: effective %s pid %d->%d", v.EffectiveConfigHash, pid, ag.CollectorPID())
		}
		h := cp.history(t, id)
		if len(h) != 2 || h[0].ID != d.ID || h[0].Status != "failed" || h[1].Status != "applied" {
			t.Fatalf("history: %+v", h)
		}
	})

	t.Run("unhealthy config falls back to the last good", func(t *testing.T) {
		d := cp.push(t, id, map[string]any{"config": fakeConfig("unhealthy: true", testutil.FreeAddr(t))})
		testutil.Eventually(t, 60*time.Second, func() bool {
			v, _ := cp.agent(t, id)
			return v.RemoteConfigStatus == "failed" && v.RemoteConfigHash == d.ConfigHash &&
				strings.Contains(v.RemoteConfigError, "rolled back")
		}, "unhealthy config not reported failed")
		testutil.Eventually(t, 20*time.Second, func() bool {
			v, _ := cp.agent(t, id)
			return v.EffectiveConfigHash == d1.ConfigHash && v.Healthy != nil && *v.Healthy
		}, "last good config not healthy again")
		pid = ag.CollectorPID()
	})

	t.Run("killed collector is restarted", func(t *testing.T) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 20*time.Second, func() bool {
			p := ag.CollectorPID()
			v, _ := cp.agent(t, id)
			return p != 0 && p != pid && v.Healthy != nil && *v.Healthy
		}, "collector not restarted")
		pid = ag.CollectorPID()
	})

	t.Run("rollback re-pushes an earlier deployment", func(t *testing.T) {
		d := cp.push(t, id, map[string]any{"rollback_to": d1.ID, "reason": "back to known good"})
		if d.Kind != "rollback" || d.RollbackOf != d1.ID || d.ConfigHash != d1.ConfigHash {
			t.Fatalf("rollback record: %+v", d)
		}
		testutil.Eventually(t, 20*time.Second, func() bool {
			h := cp.history(t, id)
			return len(h) > 0 && h[0].ID == d.ID && h[0].Status == "applied"
		}, "rollback not applied")
		pid = ag.CollectorPID()
	})

	t.Run("re-pushing the running config settles without a restart", func(t *testing.T) {
		d := cp.push(t, id, map[string]any{"config": good, "reason": "same bytes"})
		testutil.Eventually(t, 10*time.Second, func() bool {
			h := cp.history(t, id)
			return len(h) > 0 && h[0].ID == d.ID && h[0].Status == "applied"
		}, "identical config never settled")
		if ag.CollectorPID() != pid {
			t.Errorf("collector restarted for identical bytes: %d -> %d", pid, ag.CollectorPID())
		}
	})

	t.Run("teams and roles", func(t *testing.T) {
		other := apiv1.Principal{Subject: "bob", Kind: "user", Role: "operator", Teams: []string{"payments"}}
		if _, _, err := cp.call(t, apiv1.Subject(config.ServiceController, "getAgent"), other, map[string]string{"id": id}, nil); !isStatus(err, http.StatusNotFound) {
			t.Errorf("other team's GET: %v, want 404", err)
		}
		_, b, err := cp.call(t, apiv1.Subject(config.ServiceController, "listAgents"), other, nil, nil)
		if err != nil || !strings.Contains(string(b), `"items":[]`) {
			t.Errorf("other team's list: %s %v", b, err)
		}
		viewer := apiv1.Principal{Subject: "vic", Kind: "user", Role: "viewer", Teams: []string{"default"}}
		if _, _, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), viewer, map[string]string{"id": id},
			map[string]any{"rollback_to": d1.ID}); !isStatus(err, http.StatusForbidden) {
			t.Errorf("viewer push: %v, want 403", err)
		}
		op := apiv1.Principal{Subject: "olga", Kind: "user", Role: "operator", Teams: []string{"default"}}
		if _, _, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), op, map[string]string{"id": id},
			map[string]any{"config": good}); !isStatus(err, http.StatusForbidden) {
			t.Errorf("operator raw config: %v, want 403", err)
		}
		if _, _, err := cp.call(t, apiv1.Subject(config.ServiceController, "pushAgentConfig"), op, map[string]string{"id": id},
			map[string]any{"config": good, "rollback_to": d1.ID}); !isStatus(err, http.StatusBadRequest) {
			t.Errorf("two sources: %v, want 400", err)
		}
		_, b, err = cp.call(t, apiv1.Subject(config.ServiceController, "listAgents"), op, nil, nil)
		if err != nil || !strings.Contains(string(b), id) {
			t.Errorf("own team's list: %s %v", b, err)
		}
	})

	t.Run("control plane goes away and comes back", func(t *testing.T) {
		cp.stop()
		// The collector keeps running the last config while the control plane is gone.
		for range 3 {
			if !ag.Healthy(t.Context()) || ag.CollectorPID() != pid {
				t.Fatalf("collector disturbed by the control plane stopping")
			}
			time.Sleep(500 * time.Millisecond) // observing over time, not waiting for a condition
		}
		// An agent restarted while the control plane is away runs its last
		// good config from its data dir, under the same identity.
		if err := ag.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		if alive(pid) {
			t.Fatalf("collector %d survived the agent's Stop", pid)
		}
		ag = startAgentWith(t, cp.opampURL(), bin, agentDir, "", 5*time.Second)
		if ag.ID() != id || ag.EffectiveConfigHash() != d1.ConfigHash || !ag.Healthy(t.Context()) {
			t.Fatalf("restarted agent: id %s, config %s, healthy %v", ag.ID(), ag.EffectiveConfigHash(), ag.Healthy(t.Context()))
		}
		pid = ag.CollectorPID()
		cp2 := start(t, cfg) // same data dir and ports
		testutil.Eventually(t, 30*time.Second, func() bool {
			v, ok := cp2.agent(t, id)
			return ok && v.Connected && v.EffectiveConfigHash == d1.ConfigHash
		}, "agent did not reconnect")
		if ag.CollectorPID() != pid {
			t.Errorf("collector restarted on reconnect: %d -> %d", pid, ag.CollectorPID())
		}
	})
}

func isStatus(err error, status int) bool {
	if err == nil {
		return false
	}
	var p *problem.Error
	return errors.As(err, &p) && p.Status == status
}

// TestFleetOnPostgres runs the core of the lifecycle the distributed way:
// the controller on PostgreSQL (skipped locally when absent, required in CI)
// and a NATS server of its own: on the machine's shared server another test
// process's controller would answer some of these requests from its own
// database.
func TestFleetOnPostgres(t *testing.T) {
	bin := fakeCollector(t)
	cfg := newConfig(t, "controller")
	cfg.DatabaseURL = testutil.FreshPostgres(t)
	cfg.NATSURL = testutil.PrivateNATS(t)
	cp := start(t, cfg)
	ag := startAgentWith(t, cp.opampURL(), bin, t.TempDir(), "", 5*time.Second)
	id := ag.ID()
	testutil.Eventually(t, 15*time.Second, func() bool {
		v, ok := cp.agent(t, id)
		return ok && v.Connected
	}, "agent never enrolled")
	d1 := cp.push(t, id, map[string]any{"config": fakeConfig("", testutil.FreeAddr(t))})
	testutil.Eventually(t, 20*time.Second, func() bool {
		v, _ := cp.agent(t, id)
		return v.EffectiveConfigHash == d1.ConfigHash && v.Healthy != nil && *v.Healthy
	}, "config never effective")
	d2 := cp.push(t, id, map[string]any{"config": fakeConfig("invalid: true", testutil.FreeAddr(t))})
	testutil.Eventually(t, 20*time.Second, func() bool {
		h := cp.history(t, id)
		return len(h) == 2 && h[0].ID == d2.ID && h[0].Status == "failed" && h[1].Status == "applied"
	}, "invalid config not recorded as failed")
}
