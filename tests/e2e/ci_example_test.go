package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

// githubWorkflow is what TestCIExample reads of examples/ci/github-actions.yaml.
type githubWorkflow struct {
	On struct {
		PullRequest struct {
			Paths []string `yaml:"paths"`
		} `yaml:"pull_request"`
	} `yaml:"on"`
	Jobs map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			ID  string `yaml:"id"`
			Run string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// gitlabJob is what TestCIExample reads of examples/ci/gitlab-ci.yaml.
type gitlabJob struct {
	Variables map[string]string `yaml:"variables"`
	Rules     []struct {
		Changes []string `yaml:"changes"`
	} `yaml:"rules"`
	Script []string `yaml:"script"`
}

// ciRunSteps are the workflow steps the test runs (the others install
// phoenix and check out the repository, which the test does itself).
var ciRunSteps = []string{"validate", "experiment"}

// TestCIExample is the acceptance check of examples/ci: the GitHub
// workflow's gate steps and the GitLab job's script, read from the files and
// run as written (bash -eo pipefail, as GitHub runs `run:`), pass against a
// good candidate and fail against a bad one, with a `phoenix server --dev`
// started here as the Phoenix server.
func TestCIExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phoenix binary and a --dev server")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("the gate script needs jq")
	}
	root := repoRoot()
	var gh githubWorkflow
	readYAML(t, filepath.Join(root, "examples", "ci", "github-actions.yaml"), &gh)
	var gl map[string]gitlabJob
	readYAML(t, filepath.Join(root, "examples", "ci", "gitlab-ci.yaml"), &gl)
	job, ok := gh.Jobs["gate"]
	if !ok {
		t.Fatal("github-actions.yaml has no job gate")
	}
	if !slices.Contains(gh.On.PullRequest.Paths, "pipelines/**") {
		t.Errorf("the workflow does not run on a change to pipelines/: %v", gh.On.PullRequest.Paths)
	}
	steps := map[string]string{}
	for _, s := range job.Steps {
		if slices.Contains(ciRunSteps, s.ID) {
			steps[s.ID] = s.Run
		}
	}
	for _, id := range ciRunSteps {
		if steps[id] == "" {
			t.Fatalf("github-actions.yaml: job gate has no step %q with a run script", id)
		}
	}
	glJob, ok := gl["phoenix-gate"]
	if !ok || len(glJob.Script) == 0 || len(glJob.Rules) == 0 || !slices.Contains(glJob.Rules[0].Changes, "pipelines/**/*") {
		t.Fatalf("gitlab-ci.yaml: job phoenix-gate lacks a script or a rule on pipelines/: %+v", glJob)
	}

	collector := realCollector(t)
	bin := phoenixBinary(t)
	base := startDevServer(t, collector, bin)
	tok := login(base)

	// The workflow's credentials: an operator API key, as its comment says.
	var key struct {
		Key string `json:"key"`
	}
	mk := exec.Command(bin, "apikey", "create", "--name", "ci", "--role", "operator", "--scope", "read,write",
		"--api-url", base, "-o", "json")
	mk.Env = append(os.Environ(), "PHOENIX_TOKEN="+tok)
	out, err := mk.Output()
	if err != nil || json.Unmarshal(out, &key) != nil || key.Key == "" {
		t.Fatalf("apikey create: %v\n%s", err, out)
	}

	// The local agent must run before an experiment can use it.
	testutil.Eventually(t, 90*time.Second, func() bool {
		var list struct {
			Items []struct {
				Healthy *bool `json:"healthy"`
			} `json:"items"`
		}
		return getJSON(base+"/api/v1/agents", tok, &list) && len(list.Items) == 1 && list.Items[0].Healthy != nil && *list.Items[0].Healthy
	}, "the --dev agent never became healthy")

	goodConfig, err := exec.Command(bin, "pipeline", "generate", "--template", "topk", "-o", "yaml").Output()
	if err != nil {
		t.Fatalf("pipeline generate: %v", err)
	}
	badConfig := bytes.Replace(goodConfig, []byte("limit_percentage: 80"), []byte("limit_percentage: 800"), 1)
	if bytes.Equal(goodConfig, badConfig) {
		t.Fatal("the generated config has no limit_percentage: 80 to break")
	}
	env := ciEnv(job.Env, base, key.Key, bin, collector)

	// GitLab: an invalid collector config fails the job at validate, before
	// any experiment.
	ws := ciWorkspace(t, root, badConfig, "good-experiment.yaml")
	code, log := runJob(t, ws, strings.Join(glJob.Script, "\n"), withoutGitHub(env))
	if code != 1 || !strings.Contains(log, "processors::memory_limiter") || strings.Contains(log, "running the experiment") {
		t.Errorf("gitlab job with an invalid config: exit %d, want 1 before any experiment:\n%s", code, log)
	}

	// GitHub: a valid config and a bad candidate: validate passes, the
	// experiment step fails with an annotation.
	ws = ciWorkspace(t, root, goodConfig, "bad-experiment.yaml")
	if code, log := runJob(t, ws, steps["validate"], env); code != 0 || !strings.Contains(log, "pipelines/collector.yaml: valid") {
		t.Fatalf("validate step on a valid config: exit %d:\n%s", code, log)
	}
	code, log = runJob(t, ws, steps["experiment"], env)
	if code != 1 || !strings.Contains(log, "::error file=experiments/bad-experiment.yaml::") {
		t.Errorf("experiment step on a bad candidate: exit %d, want 1 with an annotation:\n%s", code, log)
	}
	t.Logf("bad candidate:\n%s", log)

	// GitHub: the good candidate passes both steps.
	ws = ciWorkspace(t, root, goodConfig, "good-experiment.yaml")
	for _, id := range ciRunSteps {
		code, log := runJob(t, ws, steps[id], env)
		if code != 0 {
			t.Fatalf("%s step on the good candidate: exit %d:\n%s", id, code, log)
		}
		t.Logf("good candidate, %s:\n%s", id, log)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// ciEnv is the job's environment: its env block, with the GitHub
// expressions (vars, secrets) replaced by this test's server and key, and
// phoenix and phoenix-collector on PATH.
func ciEnv(jobEnv map[string]string, base, key, bin, collector string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PHOENIX_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=")
	})
	for k, v := range jobEnv {
		if !strings.Contains(v, "${{") {
			env = append(env, k+"="+v)
		}
	}
	return append(env,
		"PHOENIX_API_URL="+base, "PHOENIX_TOKEN="+key,
		"PHOENIX_COLLECTOR_BIN="+collector,
		"EXPERIMENT_TIMEOUT=6m", // the job's 30m, bounded for a test
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GITHUB_ACTIONS=true",
	)
}

func withoutGitHub(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "GITHUB_ACTIONS=") })
}

// ciWorkspace is a checkout of a user's repository: ci/phoenix-gate.sh
// (examples/ci's, as the workflow says to copy it), one collector config
// and one experiment spec from testdata/ci.
func ciWorkspace(t *testing.T, root string, config []byte, spec string) string {
	t.Helper()
	ws := t.TempDir()
	script, err := os.ReadFile(filepath.Join(root, "examples", "ci", "phoenix-gate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	specBody, err := os.ReadFile(filepath.Join("testdata", "ci", spec))
	if err != nil {
		t.Fatal(err)
	}
	for path, f := range map[string]struct {
		body []byte
		mode os.FileMode
	}{
		"ci/phoenix-gate.sh":       {script, 0o755},
		"pipelines/collector.yaml": {config, 0o644},
		"experiments/" + spec:      {specBody, 0o644},
	} {
		p := filepath.Join(ws, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.body, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// runJob runs script in ws as GitHub runs a step's `run:` (bash
// --noprofile --norc -eo pipefail) and returns its status and output.
func runJob(t *testing.T, ws, script string, env []string) (int, string) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = ws, env
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runWithin(cmd, 8*time.Minute)
	if err == nil {
		return 0, out.String()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run %q: %v\n%s", script, err, out.String())
	return -1, ""
}

// startDevServer starts `phoenix server --dev` on free ports, rolling up
// every 2 s so a 40 s experiment has windows enough, and returns its API
// URL once the admin can log in.
func startDevServer(t *testing.T, collector, bin string) string {
	t.Helper()
	apiAddr := testutil.FreeAddr(t)
	cmd := exec.Command(bin, "server", "--dev")
	cmd.Env = append(os.Environ(),
		"PHOENIX_DATA_DIR="+t.TempDir(),
		"PHOENIX_COLLECTOR_BIN="+collector,
		"PHOENIX_BOOTSTRAP_ADMIN_PASSWORD="+devAdminPassword,
		"PHOENIX_API_ADDR="+apiAddr,
		"PHOENIX_ANALYTICS_ROLLUP_INTERVAL=2s",
		"PHOENIX_ANALYTICS_OTLP_GRPC_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_ANALYTICS_OTLP_HTTP_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_CONTROLLER_OPAMP_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_CONTROLLER_DEV_OTLP_GRPC_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_CONTROLLER_DEV_OTLP_HTTP_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_CONTROLLER_DEV_TELEMETRY_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_CONTROLLER_DEV_HEALTH_ADDR="+testutil.FreeAddr(t),
	)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("phoenix server --dev output:\n%s", tail(logs.String(), 80))
		}
	})
	base := "http://" + apiAddr
	testutil.Eventually(t, 60*time.Second, func() bool { return login(base) != "" }, "login never succeeded")
	return base
}
