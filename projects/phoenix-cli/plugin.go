package phoenixcli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() { commands = append(commands, pluginCmd) }

// pluginPrefix names plugins the kubectl way: phoenix-<name> on PATH runs as
// `phoenix <name>`; phoenix-foo-bar as `phoenix foo bar`.
const pluginPrefix = "phoenix-"

// notPlugins are phoenix-* executables Phoenix itself ships: they are not
// plugins, even on PATH.
var notPlugins = map[string]string{
	"collector": "the phoenix-collector distribution, run by agents",
}

// maxPluginWords bounds how many leading words name a plugin.
const maxPluginWords = 8

// plugin is one phoenix-* executable found on PATH.
type plugin struct {
	Name       string   `json:"name"` // as typed after `phoenix`, words joined by spaces
	Path       string   `json:"path"`
	Executable bool     `json:"executable"`
	Warnings   []string `json:"warnings,omitempty"`
}

// findPluginPath returns the longest phoenix-<w1>-<w2>... on PATH for the
// leading words of args (those before the first flag), and how many words
// it took.
func findPluginPath(args []string) (string, int) {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == maxPluginWords {
			break
		}
		words = append(words, a)
	}
	for n := len(words); n > 0; n-- {
		name := strings.Join(words[:n], "-")
		if _, reserved := notPlugins[name]; reserved || strings.ContainsAny(name, `/\`) {
			continue
		}
		if p, err := exec.LookPath(pluginPrefix + name); err == nil {
			return p, n
		}
	}
	return "", 0
}

// builtin reports whether args (before the first flag) start with a command
// of root other than root itself, including cobra's own (help, completion,
// __complete).
func builtin(root *cobra.Command, args []string) bool {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return true // flags first: kubectl does not look for plugins either
	}
	switch args[0] {
	case "help", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd, "completion":
		return true
	}
	c, _, err := root.Find(args)
	return err == nil && c != root
}

// runPlugin runs the plugin args name when no built-in command matches,
// with the resolved API URL and token in PHOENIX_API_URL and PHOENIX_TOKEN,
// the remaining args, and the terminal's stdio; it returns the plugin's
// exit status and whether a plugin ran.
func runPlugin(root *cobra.Command, args []string, stderr io.Writer) (int, bool) {
	if builtin(root, args) {
		return 0, false
	}
	path, n := findPluginPath(args)
	if path == "" {
		return 0, false
	}
	g := &Globals{APIURL: envOr("PHOENIX_API_URL", defaultAPIURL)}
	env := append(os.Environ(), "PHOENIX_API_URL="+g.APIURL, "PHOENIX_TOKEN="+g.token())
	cmd := exec.Command(path, args[n:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The terminal sends Ctrl-C to the plugin too; phoenix waits for its
	// status instead of dying first. SIGTERM is passed on.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "error: plugin %s: %v\n", path, err)
		return ExitFailed, true
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		if st, ok := exit.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal()), true // the shell's convention
		}
		return exit.ExitCode(), true
	default:
		fmt.Fprintf(stderr, "error: plugin %s: %v\n", path, err)
		return ExitFailed, true
	}
}

// listPlugins finds every phoenix-* file on PATH, in PATH order, with a
// warning for each one that cannot run as a plugin: not executable, hidden
// by a built-in command, by an earlier file of the same name, or reserved.
func listPlugins(root *cobra.Command, pathEnv string) []plugin {
	var out []plugin
	seen := map[string]string{}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasPrefix(e.Name(), pluginPrefix) || len(e.Name()) == len(pluginPrefix) {
				continue
			}
			p := plugin{Name: strings.ReplaceAll(strings.TrimPrefix(e.Name(), pluginPrefix), "-", " "), Path: filepath.Join(dir, e.Name())}
			if fi, err := os.Stat(p.Path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				p.Executable = true
			} else {
				p.Warnings = append(p.Warnings, "not executable: it never runs")
			}
			words := strings.Fields(p.Name)
			if why, reserved := notPlugins[strings.Join(words, "-")]; reserved {
				p.Warnings = append(p.Warnings, "not a plugin: "+why)
			}
			if c, _, err := root.Find(words); err == nil && c != root {
				p.Warnings = append(p.Warnings, fmt.Sprintf("shadowed by the built-in command %q: it never runs", c.CommandPath()))
			}
			if first, dup := seen[e.Name()]; dup {
				p.Warnings = append(p.Warnings, "shadowed by "+first+", earlier on PATH: it never runs")
			} else if p.Executable {
				seen[e.Name()] = p.Path
			}
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func pluginCmd(g *Globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "plugin",
		Short: "Plugins: executables named phoenix-<name> on PATH run as `phoenix <name>`",
		Long: `A plugin is any executable named phoenix-<name> on PATH. When no built-in
command matches, 'phoenix <name> [args]' runs it with the remaining
arguments, stdin, stdout and stderr, and exits with its status. The plugin
gets the API URL and a token in its environment:

  PHOENIX_API_URL  --api-url's default (env PHOENIX_API_URL, else http://localhost:8080)
  PHOENIX_TOKEN    env PHOENIX_TOKEN, else the credentials of 'phoenix login'

phoenix-foo-bar runs as 'phoenix foo bar' (the longest match wins). Flags
before the plugin's name are not read: 'phoenix --api-url X foo' does not
run a plugin; set PHOENIX_API_URL instead. Built-in commands always win.`,
	}
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List plugins on PATH, with a warning for each one that cannot run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := listPlugins(cmd.Root(), os.Getenv("PATH"))
			doc := map[string]any{"items": ps}
			err := output.Render(cmd.OutOrStdout(), g.Output, doc, func(tw *tabwriter.Writer) {
				if len(ps) == 0 {
					fmt.Fprintln(tw, "no plugins: no executable named phoenix-<name> on PATH")
					return
				}
				output.Row(tw, "PLUGIN", "PATH", "WARNING")
				for _, p := range ps {
					output.Row(tw, "phoenix "+p.Name, p.Path, orDash(strings.Join(p.Warnings, "; ")))
				}
			})
			return err
		},
	})
	return c
}
