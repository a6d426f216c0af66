package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
	phoenixcli "github.com/phoenix-platform/phoenix/projects/phoenix-cli"
)

// contractError is the gateway's answer to a request the OpenAPI spec
// refuses (projects/platform-api/internal/gateway/validate.go). The CLI
// builds every request itself, so this answer is always a CLI bug.
const contractError = "request does not match the API contract"

// sweepSkip lists the commands the sweep does not run, with why. Keep it
// small: every other command runs.
var sweepSkip = map[string]string{
	"server":     "is the server under test",
	"agent run":  "a daemon: TestAgentRunBinary covers it",
	"help":       "cobra's own",
	"completion": "cobra's own, offline",
}

// sweepStep is how one command runs in the sweep: its minimal arguments
// (placeholders in braces are filled from earlier steps' JSON output), its
// stdin, and which placeholder its JSON answer's "id" defines (and
// <defines>_key its "key", when it has one).
type sweepStep struct {
	args    []string
	stdin   string
	defines string
}

// sweepPassword is the admin's password, and the one `passwd` sets back.
const sweepPassword = devAdminPassword

// sweepSteps gives the commands that need arguments their minimal ones.
// A command not listed runs with a placeholder per positional argument and
// per required flag (so a new command is swept the day it lands), and the
// test says to add it here when that is refused as usage.
var sweepSteps = map[string]sweepStep{
	"login":              {args: []string{"--password-stdin"}, stdin: sweepPassword + "\n"},
	"passwd":             {args: []string{"--password-stdin"}, stdin: sweepPassword + "\n" + sweepPassword + "\n"},
	"apikey create":      {args: []string{"--name", "k", "--scope", "ingest"}, defines: "apikey"},
	"apikey revoke":      {args: []string{"{apikey}"}},
	"user create":        {args: []string{"sweep-user", "--password-stdin"}, stdin: "sweep-user-password-1\n"},
	"user update":        {args: []string{"sweep-user", "--role", "operator"}},
	"user delete":        {args: []string{"sweep-user"}},
	"team create":        {args: []string{"sweep-team"}},
	"team add-member":    {args: []string{"sweep-team", "sweep-user"}},
	"team remove-member": {args: []string{"sweep-team", "sweep-user"}},
	"agent get":          {args: []string{"00000000-0000-4000-8000-000000000001"}},
	"agent history":      {args: []string{"00000000-0000-4000-8000-000000000001"}},
	"agent push":         {args: []string{"00000000-0000-4000-8000-000000000001", "--pipeline", "{pipeline}"}},
	"compare":            {args: []string{"--baseline", "default", "--candidate", "default"}},
	"anomaly list":       {args: []string{"--stream", "default"}},
	"cost":               {args: []string{"--by", "service.name", "--top", "5"}},
	"forecast":           {args: []string{"--horizon", "1h", "--budget-series", "1000", "--budget-monthly-cost", "10"}},
	"loadsim run":        {args: []string{"--target", "http://{otlp_http}", "--token", "{apikey_key}", "--duration", "1s", "--quiet"}},
	"loadsim start":      {args: []string{"--target", "http://{otlp_http}", "--duration", "5s"}, defines: "loadsim"},
	"loadsim get":        {args: []string{"{loadsim}"}},
	"loadsim stop":       {args: []string{"{loadsim}"}},
	"pipeline validate":  {args: []string{"{config_file}"}},
	"pipeline create":    {args: []string{"--name", "sweep", "--template", "balanced"}, defines: "pipeline"},
	"pipeline generate":  {args: []string{"--template", "balanced"}},
	"pipeline get":       {args: []string{"{pipeline}"}},
	"pipeline update":    {args: []string{"{pipeline}", "--template", "balanced", "--set", "k=20", "--reason", "sweep"}},
	"pipeline versions":  {args: []string{"{pipeline}"}},
	"pipeline diff":      {args: []string{"{pipeline}"}},
	"pipeline delete":    {args: []string{"{pipeline}"}},
	// Experiments: a draft from the topk example (its selector matches no
	// agent of this server), acted on by the others; run starts a second
	// one from another example without waiting.
	"experiment create":   {args: []string{"-f", "../../examples/experiments/topk.yaml"}, defines: "experiment"},
	"experiment run":      {args: []string{"-f", "../../examples/experiments/drops-postgres.yaml"}},
	"experiment get":      {args: []string{"{experiment}"}},
	"experiment start":    {args: []string{"{experiment}"}},
	"experiment stop":     {args: []string{"{experiment}"}},
	"experiment approve":  {args: []string{"{experiment}"}},
	"experiment promote":  {args: []string{"{experiment}"}},
	"experiment rollback": {args: []string{"{experiment}"}},
	"experiment events":   {args: []string{"{experiment}"}},
	"experiment results":  {args: []string{"{experiment}"}},
	"experiment watch":    {args: []string{"{experiment}", "--timeout", "2s"}},
	"experiment delete":   {args: []string{"{experiment}"}},
	"anomaly detect":      {args: []string{"--input", "../../projects/phoenix-cli/testdata/anomaly/spike.csv"}},
	// Rollouts: a staged rollout of the swept pipeline to a selector that
	// matches no agent, read and aborted by the others.
	"rollout create": {args: []string{"--pipeline", "{pipeline}", "--selector", "env=sweep", "--strategy", "staged",
		"--steps", "50,100", "--pause", "1s"}, defines: "rollout"},
	"rollout get":   {args: []string{"{rollout}"}},
	"rollout abort": {args: []string{"{rollout}"}},
	// Alerting: a budget rule, a silence and a webhook channel on a
	// loopback URL (refused at dial time without allow_private, so the
	// test notification fails fast without leaving the machine).
	"alert-rule create": {args: []string{"sweep-budget", "--kind", "max_active_series", "--threshold", "1000000"}, defines: "alertrule"},
	"alert-rule get":    {args: []string{"{alertrule}"}},
	"alert-rule delete": {args: []string{"{alertrule}"}},
	"silence create":    {args: []string{"--duration", "1h", "--stream", "sweep"}, defines: "silence"},
	"silence delete":    {args: []string{"{silence}"}},
	"channel create":    {args: []string{"sweep-hook", "--type", "webhook", "--url", "http://127.0.0.1:9/hook"}, defines: "channel"},
	"channel get":       {args: []string{"{channel}"}},
	"channel test":      {args: []string{"{channel}"}},
	"channel delete":    {args: []string{"{channel}"}},
	// Issue 19's verbs.
	"user get":       {args: []string{"sweep-user"}},
	"team get":       {args: []string{"sweep-team"}},
	"team delete":    {args: []string{"sweep-team"}},
	"apikey get":     {args: []string{"{apikey}"}},
	"stream rollups": {args: []string{"default", "--from", "1h", "--step", "1m"}},
	// Adaptive: a shadow policy from the CLI's testdata, read and deleted
	// by the others.
	"adaptive policy create": {args: []string{"-f", "../../projects/phoenix-cli/testdata/adaptive/policy.yaml"}, defines: "adaptive"},
	"adaptive policy get":    {args: []string{"{adaptive}"}},
	"adaptive policy update": {args: []string{"{adaptive}", "-f", "../../projects/phoenix-cli/testdata/adaptive/policy.yaml"}},
	"adaptive policy delete": {args: []string{"{adaptive}"}},
	"adaptive decisions":     {args: []string{"--policy", "{adaptive}"}},
}

// sweepFirst run before the others, in this order (they create what the
// others name); sweepLast run after them (they delete it or end the
// session).
var (
	sweepFirst = []string{"login", "team create", "user create", "team add-member", "apikey create", "loadsim run", "pipeline create", "pipeline update", "loadsim start", "experiment create", "rollout create", "alert-rule create", "silence create", "channel create", "adaptive policy create"}
	sweepLast  = []string{"adaptive policy delete", "alert-rule delete", "silence delete", "channel delete", "loadsim stop", "experiment delete", "pipeline delete", "team remove-member", "team delete", "user delete", "apikey revoke", "passwd", "logout"}
)

// TestCLISweep runs every client command of the `phoenix` CLI, found by
// walking its cobra tree, with minimal flags against a real `phoenix
// server` (not --dev), and fails on any contract error: the CLI must never
// send what the spec refuses (issue 13 §3).
func TestCLISweep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the phoenix binary")
	}
	bin := phoenixBinary(t)
	apiAddr, otlpHTTP := testutil.FreeAddr(t), testutil.FreeAddr(t)
	srv := exec.Command(bin, "server")
	env := append(os.Environ(),
		"PHOENIX_DATA_DIR="+t.TempDir(),
		"PHOENIX_BOOTSTRAP_ADMIN_PASSWORD="+sweepPassword,
		"PHOENIX_API_ADDR="+apiAddr,
		"PHOENIX_ANALYTICS_OTLP_GRPC_ADDR="+testutil.FreeAddr(t),
		"PHOENIX_ANALYTICS_OTLP_HTTP_ADDR="+otlpHTTP,
		"PHOENIX_CONTROLLER_OPAMP_ADDR="+testutil.FreeAddr(t),
	)
	srv.Env = env
	var srvLogs lockedBuffer
	srv.Stdout, srv.Stderr = &srvLogs, &srvLogs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", tail(srvLogs.String(), 60))
		}
	})
	base := "http://" + apiAddr
	testutil.Eventually(t, 60*time.Second, func() bool { return login(base) != "" }, "login never succeeded")

	configFile := filepath.Join(t.TempDir(), "collector.yaml")
	gen := exec.Command(bin, "pipeline", "generate", "--template", "balanced", "-o", "yaml")
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("pipeline generate: %v", err)
	}
	if err := os.WriteFile(configFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"otlp_http": otlpHTTP, "config_file": configFile}

	// Credentials of `phoenix login` go to a private config home, and every
	// command uses them: login is the first step.
	cliEnv := append(slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "PHOENIX_TOKEN=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=")
	}), "XDG_CONFIG_HOME="+t.TempDir(), "PHOENIX_API_URL="+base)

	ran := 0
	for _, path := range sweepOrder(t, phoenixcli.NewRoot()) {
		step, listed := sweepSteps[path]
		if !listed {
			step = guessStep(t, phoenixcli.NewRoot(), path)
		}
		args, ok := fill(step.args, vars)
		if !ok {
			t.Errorf("%s: a placeholder in %q has no value (the step defining it failed)", path, step.args)
			continue
		}
		cmd := exec.Command(bin, append(append(strings.Fields(path), "-o", "json"), args...)...)
		cmd.Env = cliEnv
		cmd.Stdin = strings.NewReader(step.stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := runWithin(cmd, 60*time.Second)
		ran++
		t.Logf("phoenix %s %s: err=%v %s", path, redact(args), runErr, firstLine(stderr.String()))
		switch {
		case strings.Contains(stderr.String(), contractError) || strings.Contains(stdout.String(), contractError):
			t.Errorf("phoenix %s %s: contract error:\n%s", path, redact(args), stderr.String())
		case isUsageError(stderr.String()):
			t.Errorf("phoenix %s: refused as usage (%s): give it minimal arguments in sweepSteps", path, firstLine(stderr.String()))
		}
		if step.defines != "" {
			var created struct {
				ID  string `json:"id"`
				Key string `json:"key"`
			}
			if runErr != nil || json.Unmarshal(stdout.Bytes(), &created) != nil || created.ID == "" {
				t.Errorf("phoenix %s: want a JSON answer with an id, got err %v: %s %s", path, runErr, stdout.String(), stderr.String())
				continue
			}
			vars[step.defines] = created.ID
			if created.Key != "" {
				vars[step.defines+"_key"] = created.Key
			}
		}
	}
	if ran < 30 {
		t.Fatalf("swept %d commands; the tree walk found too few", ran)
	}
	checkCompletion(t, bin, env, base)
}

// checkCompletion: `phoenix __complete experiment get ""` (what the shell
// scripts call on <TAB>) and `phoenix completion bash` sourced in bash
// complete the experiment left by the sweep (`experiment run` started one)
// with its id, read from the server.
func checkCompletion(t *testing.T, bin string, env []string, base string) {
	t.Helper()
	tok := login(base)
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if !getJSON(base+"/api/v1/experiments", tok, &list) || len(list.Items) == 0 {
		t.Fatal("no experiment left to complete")
	}
	want := list.Items[0].ID
	cliEnv := append(slices.Clone(env), "PHOENIX_API_URL="+base, "PHOENIX_TOKEN="+tok)
	cmd := exec.Command(bin, "__complete", "experiment", "get", "")
	cmd.Env = cliEnv
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), want+"\t") {
		t.Errorf("__complete experiment get: %v, lacks %s:\n%s", err, want, out)
	}
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bash-completion not installed (%v): .ci/run installs it", err)
		}
		t.Logf("bash-completion not installed (%v): the sourced-script check is skipped", err)
		return
	}
	script := `source ` + bashCompletion + `
source <("$PHOENIX_BIN" completion bash)
COMP_LINE="phoenix experiment get "
COMP_POINT=${#COMP_LINE}
COMP_WORDS=(phoenix experiment get "")
COMP_CWORD=3
__start_phoenix phoenix "" get
printf '%s\n' "${COMPREPLY[@]}"`
	sh := exec.Command("bash", "--noprofile", "--norc", "-c", script)
	// The completion script runs `phoenix`: the built binary first on PATH.
	sh.Env = append(cliEnv, "PHOENIX_BIN="+bin, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err = sh.CombinedOutput()
	if err != nil || !slices.Contains(strings.Fields(string(out)), want) {
		t.Errorf("bash completion of phoenix experiment get <TAB>: %v, lacks %s:\n%s", err, want, out)
	}
}

// sweepOrder walks the CLI's command tree and returns every runnable
// command path, minus sweepSkip, with sweepFirst first and sweepLast last.
func sweepOrder(t *testing.T, root *cobra.Command) []string {
	t.Helper()
	var all []string
	var walk func(c *cobra.Command, prefix string)
	walk = func(c *cobra.Command, prefix string) {
		for _, sub := range c.Commands() {
			path := strings.TrimSpace(prefix + " " + sub.Name())
			if _, skip := sweepSkip[path]; skip {
				continue
			}
			if sub.Runnable() {
				all = append(all, path)
			}
			walk(sub, path)
		}
	}
	walk(root, "")
	for _, p := range append(slices.Clone(sweepFirst), sweepLast...) {
		if !slices.Contains(all, p) {
			t.Fatalf("sweepFirst/sweepLast name %q, which the CLI no longer has", p)
		}
	}
	middle := slices.DeleteFunc(slices.Clone(all), func(p string) bool {
		return slices.Contains(sweepFirst, p) || slices.Contains(sweepLast, p)
	})
	sort.Strings(middle)
	return append(append(slices.Clone(sweepFirst), middle...), sweepLast...)
}

// guessStep gives a command sweepSteps does not list a placeholder for
// each positional argument its Use names and for each required flag.
func guessStep(t *testing.T, root *cobra.Command, path string) sweepStep {
	t.Helper()
	c, _, err := root.Find(strings.Fields(path))
	if err != nil {
		t.Fatalf("find %s: %v", path, err)
	}
	var args []string
	for _, w := range strings.Fields(c.Use)[1:] {
		if strings.ToUpper(w) == w {
			args = append(args, "sweep")
		}
	}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if _, req := f.Annotations[cobra.BashCompOneRequiredFlag]; req {
			args = append(args, "--"+f.Name, "sweep")
		}
	})
	return sweepStep{args: args}
}

var errHung = errors.New("still running after the hang guard; killed")

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// fill replaces {name} in args with vars[name]; ok is false when one is
// missing.
func fill(args []string, vars map[string]string) ([]string, bool) {
	out := make([]string, len(args))
	ok := true
	for i, a := range args {
		out[i] = placeholder.ReplaceAllStringFunc(a, func(m string) string {
			v, found := vars[m[1:len(m)-1]]
			ok = ok && found
			return v
		})
	}
	return out, ok
}

// isUsageError recognises cobra's refusals of arguments and flags.
func isUsageError(stderr string) bool {
	for _, s := range []string{"unknown flag", "unknown shorthand flag", "required flag(s)", "accepts ", "arg(s), received", "unknown command"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// runWithin runs cmd, killing it after d (a hang guard, not a timing
// assertion).
func runWithin(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return errHung
	}
}

// redact hides API key secrets from the test log.
func redact(args []string) string {
	out := slices.Clone(args)
	for i, a := range out {
		if strings.HasPrefix(a, "phx_") {
			out[i] = "phx_…"
		}
	}
	return strings.Join(out, " ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
