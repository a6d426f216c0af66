package phoenixcli

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
)

func TestCredentialsFileAndRefresh(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	refreshed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/auth/refresh" {
			http.NotFound(w, r)
			return
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["refresh_token"] != "r1" {
			w.WriteHeader(401)
			return
		}
		refreshed++
		_ = json.NewEncoder(w).Encode(apiv1.Tokens{AccessToken: "a2", RefreshToken: "r2", ExpiresIn: 900})
	}))
	defer srv.Close()

	if tok := storedToken(srv.URL); tok != "" {
		t.Fatalf("token %q without a credentials file", tok)
	}
	if err := saveCredentials(credentials{APIURL: srv.URL, AccessToken: "a1", RefreshToken: "r1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p, _ := credentialsPath()
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if tok := storedToken(srv.URL); tok != "a1" {
		t.Fatalf("fresh token: got %q", tok)
	}
	if tok := storedToken("http://other:8080"); tok != "" {
		t.Fatal("token for another API URL was used")
	}
	// About to expire: the CLI refreshes and stores the rotated tokens.
	_ = saveCredentials(credentials{APIURL: srv.URL, AccessToken: "a1", RefreshToken: "r1", ExpiresAt: time.Now().Add(10 * time.Second)})
	if tok := storedToken(srv.URL); tok != "a2" || refreshed != 1 {
		t.Fatalf("refresh: token %q, refreshed %d", tok, refreshed)
	}
	c, _ := loadCredentials()
	if c.RefreshToken != "r2" {
		t.Fatalf("rotated refresh token not stored: %+v", c)
	}
	// PHOENIX_TOKEN wins over the file.
	t.Setenv("PHOENIX_TOKEN", "from-env")
	g := &Globals{APIURL: srv.URL}
	if got := g.Client().Token; got != "from-env" {
		t.Fatalf("PHOENIX_TOKEN not preferred: %q", got)
	}
}

func TestReadPasswordFromPipe(t *testing.T) {
	pw, err := readPassword(strings.NewReader("s3cret-password\n"), os.Stderr, true)
	if err != nil || pw != "s3cret-password" {
		t.Fatalf("got %q %v", pw, err)
	}
}

func TestReadTwoPasswordsFromOnePipe(t *testing.T) {
	in := bufio.NewReader(strings.NewReader("old-password-1\nnew-password-2\n"))
	a, err1 := readPassword(in, os.Stderr, true)
	b, err2 := readPassword(in, os.Stderr, true)
	if a != "old-password-1" || b != "new-password-2" || err1 != nil || err2 != nil {
		t.Fatalf("got %q %q (%v %v)", a, b, err1, err2)
	}
}

// TestAPIKeyCreateBody: apikey create sends only what the user set (never
// null, which the contract refuses) and names the flag in validation errors.
func TestAPIKeyCreateBody(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		bodies = append(bodies, body)
		if teams, _ := body["teams"].([]any); len(teams) > 0 && teams[0] == "nope" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"status":400,"title":"invalid API key","errors":[{"path":"teams[0]","message":"unknown team \"nope\": create it first (phoenix team create nope, or POST /api/v1/teams)"},{"path":"rate_limit_per_minute","message":"must be from 0 to 1000000"}]}`))
			return
		}
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id":"k1","name":"k","role":"viewer","scopes":["ingest"],"teams":["default"],"rate_limit_per_minute":0,"created_by":"admin","created_at":"2026-01-01T00:00:00Z","expires_at":null,"revoked_at":null,"key":"phx_secret"}`))
	}))
	defer srv.Close()
	t.Setenv("PHOENIX_TOKEN", "tok")
	api := "--api-url=" + srv.URL

	for _, tt := range []struct {
		args    []string
		want    map[string]any // fields that must be sent, with their value
		absent  []string       // fields that must not be sent
		wantErr string
	}{
		{args: []string{"--name", "k", "--scope", "ingest"}, want: map[string]any{"name": "k", "role": "viewer"},
			absent: []string{"teams", "rate_limit_per_minute"}},
		{args: []string{"--name", "k", "--scope", "ingest", "--expires-in", "0"}, absent: []string{"teams", "expires_at", "rate_limit_per_minute"}},
		{args: []string{"--name", "k", "--team", "a,b", "--rate-limit", "600"}, want: map[string]any{"rate_limit_per_minute": float64(600)}},
		{args: []string{"--name", "k", "--team", "nope"}, wantErr: "--team: unknown team \"nope\": create it first (phoenix team create nope"},
		{args: []string{"--name", "k", "--team", "nope"}, wantErr: "--rate-limit: must be from 0"},
	} {
		bodies = nil
		out, _, err := runCLI(t, append([]string{"apikey", "create", api}, tt.args...)...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, "phx_secret") {
			t.Fatalf("%v: %v\n%s", tt.args, err, out)
		}
		if len(bodies) != 1 {
			t.Fatalf("%v: %d requests", tt.args, len(bodies))
		}
		for k, v := range bodies[0] {
			if v == nil {
				t.Errorf("%v: sent %s: null", tt.args, k)
			}
		}
		for k, v := range tt.want {
			if bodies[0][k] != v {
				t.Errorf("%v: %s = %v, want %v", tt.args, k, bodies[0][k], v)
			}
		}
		for _, k := range tt.absent {
			if _, ok := bodies[0][k]; ok {
				t.Errorf("%v: sent %s although unset", tt.args, k)
			}
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"ci":                 "ci",
		"ci – déploiement ✓": "ci – déploiement ✓",
		"bob\x00":            `bob\x00`,
		"ci\x1b[2J":          `ci\x1b[2J`,
		"ci\u202egnp.exe":    `ci\u202egnp.exe`,
		"a\tb\n":             `a\tb\n`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAsFlags: a validation problem names the flag the user typed, for
// list indexes and nested paths alike; other paths and errors pass as
// they are.
func TestAsFlags(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		flags map[string]string
		want  string
	}{
		{"list index", "teams[1]", apikeyFlags, "--team"},
		{"plain field", "rate_limit_per_minute", apikeyFlags, "--rate-limit"},
		{"nested field", "target.protocol", loadsimFlags, "--target"},
		{"loadsim rate", "max_datapoints_per_second", loadsimFlags, "--max-dps"},
		{"pipeline team", "team", pipelineFlags, "--team"},
		{"pipeline config", "config", pipelineFlags, "--file"},
		{"unmapped stays", "generate.template", pipelineFlags, "generate.template"},
		{"root stays", "", pipelineFlags, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &client.Problem{}
			path, _ := json.Marshal(tt.path)
			if err := json.Unmarshal([]byte(`{"status":400,"errors":[{"path":`+string(path)+`,"message":"bad"}]}`), p); err != nil {
				t.Fatal(err)
			}
			var got *client.Problem
			if !errors.As(asFlags(p, tt.flags), &got) || got.Errors[0].Path != tt.want {
				t.Fatalf("asFlags(%q) = %+v, want path %q", tt.path, got, tt.want)
			}
		})
	}
	plain := errors.New("cannot reach the API")
	if err := asFlags(plain, apikeyFlags); err != plain {
		t.Fatalf("a non-problem error changed: %v", err)
	}
}
