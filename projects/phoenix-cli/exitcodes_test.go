package phoenixcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"failed verdict", &ExitError{Code: ExitFailed, Err: errors.New("x")}, 1},
		{"inconclusive", &ExitError{Code: ExitInconclusive, Err: errors.New("x")}, 2},
		{"wrapped exit error", fmt.Errorf("ctx: %w", &ExitError{Code: ExitTrouble, Err: errors.New("x")}), 3},
		{"refused by the API", &client.Problem{Status: 404, Title: "Not Found"}, 1},
		{"API failure", &client.Problem{Status: 503, Title: "Service Unavailable"}, 3},
		{"unreachable", fmt.Errorf("cannot reach: %w", client.ErrUnreachable), 3},
		{"timeout", fmt.Errorf("wait: %w", context.DeadlineExceeded), 3},
		{"usage", &usageError{errors.New("accepts 1 arg(s), received 0")}, ExitUsage},
		{"cobra unknown command", errors.New(`unknown command "x" for "phoenix"`), ExitUsage},
		{"cobra required flag", errors.New(`required flag(s) "name" not set`), ExitUsage},
		{"anything else", errors.New("read spec: no such file"), 1},
	} {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestMainExitCodes runs whole command lines through Main: the codes the
// help topic documents are the ones the CLI returns.
func TestMainExitCodes(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		switch r.URL.Path {
		case "/api/v1/experiments/missing":
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"status":404,"title":"Not Found","detail":"experiment missing not found"}`))
		default:
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"status":503,"title":"Service Unavailable"}`))
		}
	}))
	defer api.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	t.Setenv("PHOENIX_TOKEN", "tok")
	for _, c := range []struct {
		args []string
		want int
		text string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"experiment", "get", "missing", "--api-url", api.URL}, 1, "404 Not Found"},
		{[]string{"experiment", "get", "other", "--api-url", api.URL}, 3, "503"},
		{[]string{"status", "--api-url", dead.URL}, 3, "cannot reach the Phoenix API"},
		{[]string{"experiment", "get"}, ExitUsage, "accepts 1 arg(s), received 0"},
		{[]string{"experiment", "get", "x", "--nope"}, ExitUsage, "unknown flag: --nope"},
		{[]string{"apikey", "create"}, ExitUsage, `required flag(s) "name" not set`},
		{[]string{"recommend", "--fail-on", "-1"}, ExitUsage, "--fail-on must be"},
		{[]string{"experiment", "run", "-f", "/nonexistent.yaml", "--wait"}, 3, "read spec"},
		{[]string{"experiment", "run", "-f", "/nonexistent.yaml"}, 1, "read spec"},
	} {
		var stderr bytes.Buffer
		root := NewRoot()
		root.SetOut(&bytes.Buffer{})
		if got := Main(root, c.args, &stderr); got != c.want || !strings.Contains(stderr.String(), c.text) {
			t.Errorf("phoenix %s: exit %d, want %d; stderr %q (want %q)", strings.Join(c.args, " "), got, c.want, stderr.String(), c.text)
		}
	}
}

// TestExitCodesHelp: `phoenix help exit-codes` lists every code.
func TestExitCodesHelp(t *testing.T) {
	out, _, err := runCLI(t, "help", "exit-codes")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{0, ExitFailed, ExitInconclusive, ExitTrouble, ExitUsage} {
		if !strings.Contains(out, fmt.Sprintf("\n  %d  ", code)) {
			t.Errorf("help exit-codes lacks code %d:\n%s", code, out)
		}
	}
	out, _, _ = runCLI(t, "--help")
	if !strings.Contains(out, "exit-codes") {
		t.Errorf("--help does not list the exit-codes topic:\n%s", out)
	}
}
