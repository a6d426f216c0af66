package phoenixcli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// fakeLists answers the list endpoints completion reads.
func fakeLists(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("limit") != "500" {
			t.Errorf("%s asked limit %q", r.URL.Path, r.URL.Query().Get("limit"))
		}
		var v any
		switch r.URL.Path {
		case "/api/v1/experiments":
			v = apiv1.List[apiv1.Experiment]{Items: []apiv1.Experiment{{ID: "exp-topk", Name: "topk-vs-baseline", State: "running"}, {ID: "exp-drop", Name: "drops", State: "draft"}}}
		case "/api/v1/pipelines":
			v = apiv1.List[apiv1.Pipeline]{Items: []apiv1.Pipeline{{ID: "pl-1", Name: "prod-hosts", Version: 3}}}
		case "/api/v1/agents":
			v = apiv1.List[apiv1.Agent]{Items: []apiv1.Agent{{ID: "agent-a", Hostname: "web-1"}}}
		case "/api/v1/streams":
			v = apiv1.List[apiv1.StreamSummary]{Items: []apiv1.StreamSummary{{Stream: "default", ActiveSeries: 42}, {Stream: "exp-topk--topk"}}}
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("PHOENIX_TOKEN", "tok")
	return srv.URL
}

// TestDynamicCompletion runs cobra's hidden __complete command, which the
// scripts of `phoenix completion bash|zsh|fish` call on <TAB>.
func TestDynamicCompletion(t *testing.T) {
	api := fakeLists(t)
	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"experiment", "get", ""}, []string{"exp-topk\ttopk-vs-baseline (running)", "exp-drop\tdrops (draft)"}, nil},
		{[]string{"experiment", "watch", "exp-t"}, []string{"exp-topk"}, []string{"exp-drop"}},
		{[]string{"experiment", "get", "exp-topk", ""}, nil, []string{"exp-drop"}}, // one ID only
		{[]string{"pipeline", "diff", ""}, []string{"pl-1\tprod-hosts v3"}, nil},
		{[]string{"agent", "history", ""}, []string{"agent-a\tweb-1"}, nil},
		{[]string{"cardinality", "--stream", ""}, []string{"default\t42 series", "exp-topk--topk"}, nil},
		{[]string{"compare", "--baseline", "def"}, []string{"default"}, []string{"exp-topk--topk"}},
		{[]string{"stream", "rollups", ""}, []string{"default"}, nil},
		{[]string{"agent", "push", "agent-a", "--pipeline", ""}, []string{"pl-1"}, nil},
		{[]string{"-o", ""}, []string{"table", "json", "yaml"}, nil},
	} {
		out, _, err := runCLI(t, append([]string{"__complete", "--api-url", api}, c.args...)...)
		if err != nil {
			t.Fatalf("__complete %q: %v", c.args, err)
		}
		for _, w := range c.want {
			if !hasLine(out, w) {
				t.Errorf("__complete %q lacks %q:\n%s", c.args, w, out)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("__complete %q offers %q:\n%s", c.args, n, out)
			}
		}
		if !strings.Contains(out, ":4\n") && !strings.Contains(out, ":36\n") { // NoFileComp (| KeepOrder)
			t.Errorf("__complete %q: directive is not NoFileComp:\n%s", c.args, out)
		}
	}
	// The API refusing: nothing offered, and an error directive (no file
	// names either).
	t.Setenv("PHOENIX_TOKEN", "wrong")
	out, _, _ := runCLI(t, "__complete", "--api-url", api, "experiment", "get", "")
	if strings.Contains(out, "exp-") || !strings.HasSuffix(strings.TrimSpace(out), ":5") {
		t.Errorf("refused completion:\n%s", out)
	}
}

// TestCompletionScripts: cobra's scripts for each shell are there.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_phoenix", "zsh": "#compdef phoenix", "fish": "complete -c phoenix"} {
		out, _, err := runCLI(t, "completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("completion %s: %v (lacks %q)", shell, err, want)
		}
	}
}

// hasLine reports whether out has the line w, or w with a description.
func hasLine(out, w string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l == w || (!strings.Contains(w, "\t") && strings.HasPrefix(l, w+"\t")) {
			return true
		}
	}
	return false
}
