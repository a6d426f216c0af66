package phoenixcli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installPlugin copies testdata/plugin/phoenix-hello into dir as name with
// mode.
func installPlugin(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "plugin", "phoenix-hello"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, src, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPluginRuns: `phoenix hello ...` runs phoenix-hello from PATH with the
// args after its name, the API URL and token in its environment, and its
// exit status; `phoenix foo bar` prefers phoenix-foo-bar.
func TestPluginRuns(t *testing.T) {
	bin := t.TempDir()
	installPlugin(t, bin, "phoenix-hello", 0o755)
	installPlugin(t, bin, "phoenix-hello-world", 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PHOENIX_API_URL", "http://phoenix.example:8080")
	t.Setenv("PHOENIX_TOKEN", "phx_test")
	record := filepath.Join(t.TempDir(), "record")
	t.Setenv("PLUGIN_RECORD", record)
	for _, c := range []struct {
		name     string
		args     []string
		exit     string
		wantCode int
		wantArgs string
	}{
		{"args pass through", []string{"hello", "a", "--flag", "b c"}, "0", 0, "args=a --flag b c"},
		{"exit status propagates", []string{"hello"}, "7", 7, "args="},
		{"longest name wins", []string{"hello", "world", "x"}, "0", 0, "args=x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(record)
			t.Setenv("PLUGIN_EXIT", c.exit)
			var stderr bytes.Buffer
			code := Main(NewRoot(), c.args, &stderr)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.wantCode, stderr.String())
			}
			got, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("the plugin did not run: %v", err)
			}
			for _, want := range []string{c.wantArgs + "\n", "api_url=http://phoenix.example:8080\n", "token=phx_test\n"} {
				if !strings.Contains(string(got), want) {
					t.Errorf("plugin saw %q, want %q", got, want)
				}
			}
		})
	}
	// A built-in command wins over a plugin of the same name, and flags
	// before the name are not a plugin call.
	installPlugin(t, bin, "phoenix-version", 0o755)
	_ = os.Remove(record)
	var stderr bytes.Buffer
	if code := Main(NewRoot(), []string{"version", "-o", "json"}, &stderr); code != 0 {
		t.Fatalf("version: %d %s", code, stderr.String())
	}
	if code := Main(NewRoot(), []string{"-o", "json", "hello"}, &stderr); code != ExitUsage {
		t.Errorf("flags before a plugin name: exit %d, want %d", code, ExitUsage)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("a plugin ran instead of a built-in command")
	}
	// No plugin, no command: usage.
	stderr.Reset()
	if code := Main(NewRoot(), []string{"nosuchplugin"}, &stderr); code != ExitUsage || !strings.Contains(stderr.String(), `unknown command "nosuchplugin"`) {
		t.Errorf("unknown command: exit %d, %s", code, stderr.String())
	}
}

func TestPluginList(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	installPlugin(t, first, "phoenix-hello", 0o755)
	installPlugin(t, second, "phoenix-hello", 0o755)
	installPlugin(t, first, "phoenix-cost-report", 0o755)
	installPlugin(t, first, "phoenix-experiment", 0o755)
	installPlugin(t, first, "phoenix-notes", 0o644)
	installPlugin(t, first, "phoenix-collector", 0o755)
	installPlugin(t, first, "other-tool", 0o755)
	ps := listPlugins(NewRoot(), first+string(os.PathListSeparator)+second)
	got := map[string]string{}
	for _, p := range ps {
		got[p.Path] = p.Name + ": " + strings.Join(p.Warnings, "; ")
	}
	want := map[string]string{
		filepath.Join(first, "phoenix-hello"):       "hello: ",
		filepath.Join(second, "phoenix-hello"):      "hello: shadowed by " + filepath.Join(first, "phoenix-hello") + ", earlier on PATH: it never runs",
		filepath.Join(first, "phoenix-cost-report"): `cost report: shadowed by the built-in command "phoenix cost": it never runs`, // cobra runs cost with the arg "report"
		filepath.Join(first, "phoenix-experiment"):  `experiment: shadowed by the built-in command "phoenix experiment": it never runs`,
		filepath.Join(first, "phoenix-notes"):       "notes: not executable: it never runs",
		filepath.Join(first, "phoenix-collector"):   "collector: not a plugin: the phoenix-collector distribution, run by agents",
	}
	if len(got) != len(want) {
		t.Errorf("found %d plugins, want %d: %v", len(got), len(want), got)
	}
	for path, w := range want {
		if got[path] != w {
			t.Errorf("%s: %q, want %q", path, got[path], w)
		}
	}
	t.Setenv("PATH", first)
	out, _, err := runCLI(t, "plugin", "list")
	if err != nil || !strings.Contains(out, "phoenix hello") || !strings.Contains(out, "not executable") {
		t.Errorf("plugin list: %v\n%s", err, out)
	}
}
