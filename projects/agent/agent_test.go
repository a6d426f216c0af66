package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseLabels(t *testing.T) {
	tests := []struct {
		in      []string
		want    map[string]string
		wantErr bool
	}{
		{in: nil, want: map[string]string{}},
		{in: []string{"env=prod", "team=payments"}, want: map[string]string{"env": "prod", "team": "payments"}},
		{in: []string{"url=http://x?a=b"}, want: map[string]string{"url": "http://x?a=b"}},
		{in: []string{"empty="}, want: map[string]string{"empty": ""}},
		{in: []string{"novalue"}, wantErr: true},
		{in: []string{"=v"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseLabels(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("parseLabels(%v) error = %v", tt.in, err)
		}
		if tt.wantErr {
			continue
		}
		if len(got) != len(tt.want) {
			t.Fatalf("parseLabels(%v) = %v", tt.in, got)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Fatalf("parseLabels(%v)[%s] = %q, want %q", tt.in, k, got[k], v)
			}
		}
	}
}

func TestInstanceUIDPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "instance_uid")
	a, err := loadUID(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadUID(path)
	if err != nil || a != b {
		t.Fatalf("uid changed across loads: %x %x %v", a, b, err)
	}
	if err := os.WriteFile(path, []byte("not-a-uuid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadUID(path); err == nil {
		t.Fatal("corrupt uid accepted")
	}
}

func TestConfigBody(t *testing.T) {
	one := &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{"other.yaml": {Body: []byte("a")}}}
	named := &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
		"x.yaml": {Body: []byte("x")}, ConfigFileName: {Body: []byte("c")}}}
	ambiguous := &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
		"x.yaml": {Body: []byte("x")}, "y.yaml": {Body: []byte("y")}}}
	for name, tt := range map[string]struct {
		m    *protobufs.AgentConfigMap
		want string
	}{
		"nil": {nil, ""}, "single file": {one, "a"}, "collector.yaml wins": {named, "c"}, "ambiguous": {ambiguous, ""},
	} {
		if got := string(configBody(tt.m)); got != tt.want {
			t.Errorf("%s: %q, want %q", name, got, tt.want)
		}
	}
}

func TestNewRefusesMissingCollector(t *testing.T) {
	_, err := New(Settings{ServerURL: "ws://127.0.0.1:1/v1/opamp", CollectorBin: filepath.Join(t.TempDir(), "nope"), DataDir: t.TempDir()})
	if err == nil {
		t.Fatal("missing collector binary accepted")
	}
}

func TestInterruptedApplyIsForgotten(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "collector")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for status, wantHash := range map[string]string{"applying": "", "applied": "abcd", "failed": "abcd"} {
		if err := os.WriteFile(filepath.Join(dir, "remote_status.json"), []byte(`{"hash":"abcd","status":"`+status+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := New(Settings{ServerURL: "ws://127.0.0.1:1/v1/opamp", CollectorBin: bin, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if a.status.Hash != wantHash {
			t.Errorf("status %s loaded as hash %q, want %q (an interrupted apply must be re-sent by the server)", status, a.status.Hash, wantHash)
		}
	}
}

// TestCollectorEnvironment: the supervised collector gets the agent's key
// and id as PHOENIX_INGEST_TOKEN and PHOENIX_AGENT_ID (what the generated
// Phoenix exporter sends), also when the key is empty (--dev), and never a
// stale value from the agent's own environment.
func TestCollectorEnvironment(t *testing.T) {
	t.Setenv("PHOENIX_INGEST_TOKEN", "stale")
	t.Setenv("PHOENIX_AGENT_ID", "stale-id")
	for name, token := range map[string]string{"with key": "phx_agent_key", "open server": ""} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "seen")
			bin := filepath.Join(dir, "collector")
			script := "#!/bin/sh\nprintf '%s\\n%s\\n' \"$PHOENIX_INGEST_TOKEN\" \"$PHOENIX_AGENT_ID\" > " + out + "\n"
			if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
				t.Fatal(err)
			}
			a, err := New(Settings{ServerURL: "ws://127.0.0.1:1/v1/opamp", CollectorBin: bin, DataDir: filepath.Join(dir, "data"), Token: token})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.sup.Validate(context.Background(), filepath.Join(dir, "c.yaml")); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := token + "\n" + a.ID() + "\n"; string(b) != want {
				t.Fatalf("collector saw %q, want %q", b, want)
			}
		})
	}
}
