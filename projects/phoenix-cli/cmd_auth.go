package phoenixcli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/output"
)

func init() {
	commands = append(commands, loginCmd, logoutCmd, passwdCmd, apikeyCmd, userCmd, teamCmd)
}

// credentials is ~/.config/phoenix/credentials.json (mode 0600).
type credentials struct {
	APIURL       string    `json:"api_url"`
	Username     string    `json:"username"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// credentialsPath honours XDG_CONFIG_HOME, else ~/.config.
func credentialsPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "phoenix", "credentials.json"), nil
}

func loadCredentials() (credentials, error) {
	var c credentials
	p, err := credentialsPath()
	if err != nil {
		return c, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", p, err)
	}
	return c, nil
}

func saveCredentials(c credentials) error {
	p, err := credentialsPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	data, _ := json.MarshalIndent(c, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return os.Rename(tmp, p)
}

func sameAPI(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }

// storedToken is the token `phoenix login` saved for apiURL, refreshed when
// it is about to expire. Errors leave the token empty: the API then answers
// 401 and says to log in.
func storedToken(apiURL string) string {
	c, err := loadCredentials()
	if err != nil || !sameAPI(c.APIURL, apiURL) {
		return ""
	}
	if time.Until(c.ExpiresAt) > 30*time.Second || c.RefreshToken == "" {
		return c.AccessToken
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var t apiv1.Tokens
	body, _ := json.Marshal(map[string]string{"refresh_token": c.RefreshToken})
	if err := client.New(apiURL, "").Do(ctx, "POST", "/api/v1/auth/refresh", bytes.NewReader(body), &t); err != nil {
		return c.AccessToken
	}
	c.AccessToken, c.RefreshToken = t.AccessToken, t.RefreshToken
	c.ExpiresAt = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)
	_ = saveCredentials(c)
	return c.AccessToken
}

// readPassword reads one line, without echo when stdin is a terminal.
func readPassword(in io.Reader, prompt io.Writer, fromStdin bool) (string, error) {
	if !fromStdin {
		if f, ok := in.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprint(prompt, "Password: ")
				off := exec.Command("stty", "-echo")
				off.Stdin = f
				if off.Run() == nil {
					defer func() {
						on := exec.Command("stty", "echo")
						on.Stdin = f
						_ = on.Run()
						fmt.Fprintln(prompt)
					}()
				}
			}
		}
	}
	br, ok := in.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(in)
	}
	line, err := br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func loginCmd(g *Globals) *cobra.Command {
	var username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in and store a token in ~/.config/phoenix/credentials.json (PHOENIX_TOKEN overrides it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), passwordStdin)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			body, _ := json.Marshal(map[string]string{"username": username, "password": pw})
			var t apiv1.Tokens
			if err := client.New(g.APIURL, "").Do(ctx, "POST", "/api/v1/auth/login", bytes.NewReader(body), &t); err != nil {
				return err
			}
			c := credentials{APIURL: g.APIURL, Username: username, AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
				ExpiresAt: time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)}
			if err := saveCredentials(c); err != nil {
				return err
			}
			p, _ := credentialsPath()
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (token stored in %s)\n", g.APIURL, username, p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "admin", "user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (for scripts)")
	return cmd
}

func logoutCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the stored session and delete the stored token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadCredentials()
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintln(cmd.OutOrStdout(), "Not logged in")
				return nil
			}
			if err == nil && sameAPI(c.APIURL, g.APIURL) && c.AccessToken != "" {
				ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
				defer cancel()
				if err := client.New(g.APIURL, c.AccessToken).Do(ctx, "POST", "/api/v1/auth/logout", nil, nil); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: server-side logout failed:", err)
				}
			}
			p, _ := credentialsPath()
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove credentials: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Logged out")
			return nil
		},
	}
}

// apikeyFlags names the flag that sets each field of a create request, so
// a refused request reads as the user typed it ("--team: unknown team").
var apikeyFlags = map[string]string{
	"name": "--name", "role": "--role", "scopes": "--scope", "teams": "--team",
	"expires_at": "--expires-in", "rate_limit_per_minute": "--rate-limit",
}

// userFlags is apikeyFlags for user create and update.
var userFlags = map[string]string{"role": "--role", "teams": "--team"}

// pipelineFlags is apikeyFlags for pipeline create and update.
var pipelineFlags = map[string]string{
	"name": "--name", "description": "--description", "team": "--team", "reason": "--reason",
	"version": "--version", "config": "--file",
}

// loadsimFlags is apikeyFlags for loadsim start.
var loadsimFlags = map[string]string{
	"profile": "--profile", "profile_yaml": "--profile-file", "hosts": "--hosts", "target": "--target",
	"protocol": "--protocol", "duration": "--duration", "seed": "--seed", "interval": "--interval",
	"max_datapoints_per_second": "--max-dps", "team": "--team",
}

// asFlags renames the field paths of a validation problem to the CLI flags
// that set them (teams[1] -> --team); other errors pass unchanged.
func asFlags(err error, flags map[string]string) error {
	var p *client.Problem
	if !errors.As(err, &p) {
		return err
	}
	for i, e := range p.Errors {
		field := e.Path // teams[1], target.exporter: the top-level field
		if j := strings.IndexAny(field, ".["); j >= 0 {
			field = field[:j]
		}
		if flag, ok := flags[field]; ok {
			p.Errors[i].Path = flag
		}
	}
	return p
}

// printable escapes control and format characters (NUL, ESC, bidi
// overrides) in a name from the server before it reaches the terminal: the
// server refuses them now, but rows stored before may hold them.
func printable(s string) string {
	if !strings.ContainsFunc(s, isHidden) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isHidden(r) {
			q := strconv.QuoteRune(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isHidden(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) }

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func apikeyCmd(g *Globals) *cobra.Command {
	root := &cobra.Command{Use: "apikey", Short: "Manage API keys for CI systems and agents (admin)"}
	var name, role string
	var scopes, teams []string
	var expiresIn time.Duration
	var rateLimit int
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key; the secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Unset optional fields are omitted, never null: without --team
			// the server picks the caller's teams.
			body := apiv1.CreateAPIKeyRequest{Name: name, Role: role, Scopes: scopes, Teams: teams, RateLimit: rateLimit}
			if expiresIn > 0 {
				at := time.Now().Add(expiresIn).UTC().Truncate(time.Second)
				body.ExpiresAt = &at
			}
			var k apiv1.APIKey
			if err := g.Client().Do(cmd.Context(), "POST", "/api/v1/apikeys", jsonBody(body), &k); err != nil {
				return asFlags(err, apikeyFlags)
			}
			return output.Render(cmd.OutOrStdout(), g.Output, k, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "ROLE", "SCOPES", "EXPIRES")
				output.Row(tw, k.ID, printable(k.Name), k.Role, strings.Join(k.Scopes, ","), fmtTime(k.ExpiresAt))
				fmt.Fprintf(tw, "\nKey (shown once): %s\n", k.Key)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for")
	create.Flags().StringVar(&role, "role", "viewer", "role: viewer, operator or admin")
	create.Flags().StringSliceVar(&scopes, "scope", []string{"read"}, "scopes: read, write, ingest, agent, admin (repeat or comma-separate)")
	create.Flags().StringSliceVar(&teams, "team", nil, "teams the key acts for (default: yours; the default team for an admin in none)")
	create.Flags().DurationVar(&expiresIn, "expires-in", 90*24*time.Hour, "lifetime (0: never expires)")
	create.Flags().IntVar(&rateLimit, "rate-limit", 0, "requests per minute for this key (0: server default)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Items []apiv1.APIKey `json:"items"`
			}
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/apikeys?limit=500", nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "ID", "NAME", "ROLE", "SCOPES", "EXPIRES", "REVOKED")
				for _, k := range out.Items {
					output.Row(tw, k.ID, printable(k.Name), k.Role, strings.Join(k.Scopes, ","), fmtTime(k.ExpiresAt), fmtTime(k.RevokedAt))
				}
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key (refused everywhere within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.Client().Do(cmd.Context(), "DELETE", "/api/v1/apikeys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Revoked", args[0])
			return nil
		},
	}
	root.AddCommand(create, list, revoke, apikeyGetCmd(g))
	return root
}

func userCmd(g *Globals) *cobra.Command {
	root := &cobra.Command{Use: "user", Short: "Manage users (admin)"}
	var role string
	var teams []string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user (password from the prompt or --password-stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), passwordStdin)
			if err != nil {
				return err
			}
			var u apiv1.User
			body := apiv1.CreateUserRequest{Username: args[0], Password: pw, Role: role, Teams: teams}
			if err := g.Client().Do(cmd.Context(), "POST", "/api/v1/users", jsonBody(body), &u); err != nil {
				return asFlags(err, userFlags)
			}
			return renderUsers(cmd, g, []apiv1.User{u}, u)
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "role: viewer, operator or admin")
	create.Flags().StringSliceVar(&teams, "team", nil, "teams")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	list := &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Items []apiv1.User `json:"items"`
			}
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/users?limit=500", nil, &out); err != nil {
				return err
			}
			return renderUsers(cmd, g, out.Items, out)
		},
	}
	var setRole string
	var setTeams []string
	update := &cobra.Command{
		Use: "update NAME", Short: "Change a user's role or teams", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body apiv1.UpdateUserRequest
			if cmd.Flags().Changed("role") {
				body.Role = &setRole
			}
			if cmd.Flags().Changed("team") {
				teams := append([]string{}, setTeams...) // --team "" clears: [] not null
				body.Teams = &teams
			}
			var u apiv1.User
			if err := g.Client().Do(cmd.Context(), "PATCH", "/api/v1/users/"+url.PathEscape(args[0]), jsonBody(body), &u); err != nil {
				return asFlags(err, userFlags)
			}
			return renderUsers(cmd, g, []apiv1.User{u}, u)
		},
	}
	update.Flags().StringVar(&setRole, "role", "", "new role")
	update.Flags().StringSliceVar(&setTeams, "team", nil, "new teams (replaces the list)")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user and end their sessions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.Client().Do(cmd.Context(), "DELETE", "/api/v1/users/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Deleted", args[0])
			return nil
		},
	}
	root.AddCommand(create, list, update, del, userGetCmd(g))
	return root
}

func renderUsers(cmd *cobra.Command, g *Globals, us []apiv1.User, v any) error {
	return output.Render(cmd.OutOrStdout(), g.Output, v, func(tw *tabwriter.Writer) {
		output.Row(tw, "USER", "ROLE", "TEAMS")
		for _, u := range us {
			output.Row(tw, printable(u.Username), u.Role, printable(strings.Join(u.Teams, ",")))
		}
	})
}

func teamCmd(g *Globals) *cobra.Command {
	root := &cobra.Command{Use: "team", Short: "Manage teams"}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a team (admin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.Client().Do(cmd.Context(), "POST", "/api/v1/teams", jsonBody(apiv1.CreateTeamRequest{Name: args[0]}), nil)
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List your teams (admins: all)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Items []apiv1.Team `json:"items"`
			}
			if err := g.Client().Do(cmd.Context(), "GET", "/api/v1/teams?limit=500", nil, &out); err != nil {
				return err
			}
			return output.Render(cmd.OutOrStdout(), g.Output, out, func(tw *tabwriter.Writer) {
				output.Row(tw, "TEAM", "MEMBERS")
				for _, t := range out.Items {
					output.Row(tw, printable(t.Name), printable(strings.Join(t.Members, ",")))
				}
			})
		},
	}
	add := &cobra.Command{
		Use: "add-member TEAM USER", Short: "Add a user to a team (admin)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.Client().Do(cmd.Context(), "PUT", "/api/v1/teams/"+url.PathEscape(args[0])+"/members/"+url.PathEscape(args[1]), nil, nil)
		},
	}
	remove := &cobra.Command{
		Use: "remove-member TEAM USER", Short: "Remove a user from a team (admin)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.Client().Do(cmd.Context(), "DELETE", "/api/v1/teams/"+url.PathEscape(args[0])+"/members/"+url.PathEscape(args[1]), nil, nil)
		},
	}
	root.AddCommand(create, list, add, remove, teamGetCmd(g), teamDeleteCmd(g))
	return root
}

func passwdCmd(g *Globals) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change your password (current, then new; --password-stdin reads two lines)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A pipe holds both lines: share one buffered reader. A terminal
			// delivers a line per read, and readPassword needs the *os.File to
			// turn echo off.
			in := cmd.InOrStdin()
			if fromStdin {
				in = bufio.NewReader(in)
			}
			cur, err := readPassword(in, cmd.ErrOrStderr(), fromStdin)
			if err != nil {
				return err
			}
			next, err := readPassword(in, cmd.ErrOrStderr(), fromStdin)
			if err != nil {
				return err
			}
			body := map[string]string{"current_password": cur, "new_password": next}
			if err := g.Client().Do(cmd.Context(), "POST", "/api/v1/auth/password", jsonBody(body), nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Password changed; your other sessions were ended")
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the current and the new password from stdin, one per line")
	return cmd
}
