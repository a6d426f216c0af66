package phoenixcli

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
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
		_ = json.NewEncoder(w).Encode(tokens{AccessToken: "a2", RefreshToken: "r2", ExpiresIn: 900})
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
