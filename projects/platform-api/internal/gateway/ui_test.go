package gateway

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/phoenix-platform/phoenix/api"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
)

const (
	testIndex = `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>`
	testBrJS  = "pretend-brotli"
)

var testJS = strings.Repeat("console.log('phoenix');\n", 100) // over minCompress

func testUIFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":                {Data: []byte(testIndex)},
		"assets/index-abc123.js":    {Data: []byte(testJS)},
		"assets/index-abc123.js.br": {Data: []byte(testBrJS)},
		"assets/logo-def456.png":    {Data: []byte("\x89PNG\r\n\x1a\nxx")},
		"manifest.webmanifest":      {Data: []byte(`{"name":"Phoenix"}`)},
	}
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestUIServesTheApp: files as they are with the right caching and
// encoding, index.html for client-side routes, 404 for missing files, and
// the security headers on every answer.
func TestUIServesTheApp(t *testing.T) {
	g, err := newGateway(uiSettings(), api.OpenAPI, WithUI(testUIFS(), true, "placeholder.html"))
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	cases := []struct {
		name, method, path, accept string
		status                     int
		ctype, cache, encoding     string
		body                       string // decoded
	}{
		{"root is the app", "GET", "/", "", 200, "text/html; charset=utf-8", "no-cache", "", testIndex},
		{"client route is the app", "GET", "/streams/default/cardinality", "gzip", 200, "text/html; charset=utf-8", "no-cache", "", testIndex},
		{"index.html by name", "GET", "/index.html", "", 200, "text/html; charset=utf-8", "no-cache", "", testIndex},
		{"hashed asset, brotli preferred", "GET", "/assets/index-abc123.js", "gzip, deflate, br", 200, "text/javascript; charset=utf-8", immutable, "br", testBrJS},
		{"hashed asset, gzip", "GET", "/assets/index-abc123.js", "gzip", 200, "text/javascript; charset=utf-8", immutable, "gzip", testJS},
		{"brotli refused by q=0", "GET", "/assets/index-abc123.js", "br;q=0, gzip", 200, "text/javascript; charset=utf-8", immutable, "gzip", testJS},
		{"hashed asset, identity", "GET", "/assets/index-abc123.js", "", 200, "text/javascript; charset=utf-8", immutable, "", testJS},
		{"small file not compressed", "GET", "/manifest.webmanifest", "gzip", 200, "application/manifest+json", "no-cache", "", `{"name":"Phoenix"}`},
		{"missing hashed asset", "GET", "/assets/index-old999.js", "", 404, "application/problem+json", "", "", ""},
		{"missing file with extension", "GET", "/favicon.ico", "", 404, "application/problem+json", "", "", ""},
		{"HEAD has no body", "HEAD", "/assets/index-abc123.js", "", 200, "text/javascript; charset=utf-8", immutable, "", ""},
		{"POST refused", "POST", "/", "", 405, "application/problem+json", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, nil)
			if c.accept != "" {
				req.Header.Set("Accept-Encoding", c.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, rec.Body)
			}
			if got := res.Header.Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q, want %q", got, c.ctype)
			}
			if c.cache != "" && res.Header.Get("Cache-Control") != c.cache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), c.cache)
			}
			if got := res.Header.Get("Content-Encoding"); got != c.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, c.encoding)
			}
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "script-src") && strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q lost or allows inline scripts", csp)
			}
			if c.status == 200 && c.path == "/assets/index-abc123.js" && !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept-Encoding") {
				t.Errorf("Vary %q lacks Accept-Encoding", res.Header.Values("Vary"))
			}
			if c.status != 200 {
				return
			}
			got := rec.Body.String()
			if c.encoding == "gzip" {
				got = gunzip(t, rec.Body.Bytes())
			}
			if got != c.body {
				t.Errorf("body %.80q, want %.80q", got, c.body)
			}
		})
	}
}

// TestUIConditionalGet: a revalidation of an unchanged file is a 304, and
// each encoding has its own ETag.
func TestUIConditionalGet(t *testing.T) {
	g, err := newGateway(uiSettings(), api.OpenAPI, WithUI(testUIFS(), true, "placeholder.html"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(accept, etag string) *http.Response {
		req := httptest.NewRequest("GET", "/assets/index-abc123.js", nil)
		req.Header.Set("Accept-Encoding", accept)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, req)
		return rec.Result()
	}
	gz, br := get("gzip", "").Header.Get("ETag"), get("br", "").Header.Get("ETag")
	if gz == "" || gz == br {
		t.Fatalf("ETags gzip %q, br %q: want distinct", gz, br)
	}
	if code := get("gzip", gz).StatusCode; code != http.StatusNotModified {
		t.Fatalf("revalidation: %d, want 304", code)
	}
	if code := get("br", gz).StatusCode; code != http.StatusOK {
		t.Fatalf("other encoding's ETag: %d, want 200", code)
	}
}

// TestUIPlaceholderAndNone: a binary built without the UI serves the
// placeholder for every page; a gateway without WithUI serves no page.
func TestUIPlaceholderAndNone(t *testing.T) {
	page := "<html>The dashboard was not built: run make build</html>"
	g, err := newGateway(uiSettings(), api.OpenAPI, WithUI(fstest.MapFS{"placeholder.html": {Data: []byte(page)}}, false, "placeholder.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/fleet"} {
		rec := httptest.NewRecorder()
		g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || rec.Body.String() != page {
			t.Errorf("%s: %d %q, want the placeholder", p, rec.Code, rec.Body)
		}
	}
	if _, err := newGateway(uiSettings(), api.OpenAPI, WithUI(fstest.MapFS{}, true, "placeholder.html")); err == nil ||
		!strings.Contains(err.Error(), "index.html missing") {
		t.Fatalf("a build without index.html: %v, want an error naming it", err)
	}
	plain, err := newGateway(uiSettings(), api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	plain.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("no UI: GET / is %d, want 404", rec.Code)
	}
}

// TestAcceptsEncoding covers the Accept-Encoding forms browsers send.
func TestAcceptsEncoding(t *testing.T) {
	cases := []struct {
		header, enc string
		want        bool
	}{
		{"gzip, deflate, br, zstd", "br", true},
		{"gzip, deflate", "br", false},
		{"br;q=0", "br", false},
		{"br; q=0.5", "br", true},
		{"BR", "br", true},
		{"", "gzip", false},
		{"x-gzip", "gzip", false},
	}
	for _, c := range cases {
		if got := acceptsEncoding(c.header, c.enc); got != c.want {
			t.Errorf("acceptsEncoding(%q, %q) = %v, want %v", c.header, c.enc, got, c.want)
		}
	}
}

// uiSettings has metrics: the handler chain records every request.
func uiSettings() service.Settings {
	s := settingsForTest()
	s.Metrics = telemetry.NewMetrics()
	return s
}

// TestUIDoesNotShadowTheAPI: with the UI mounted, the spec's routes and
// unknown /api/ paths answer as before on a running gateway; only other
// paths get the app.
func TestUIDoesNotShadowTheAPI(t *testing.T) {
	e := startEnv(t, func(s service.Settings) (*Gateway, error) {
		return NewWith(s, WithUI(testUIFS(), true, "placeholder.html"))
	})
	cases := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/healthz", 200, "application/json"},
		{"GET", "/api/v1/openapi.yaml", 200, "application/yaml"},
		{"GET", "/api/v1/status", 401, "application/problem+json"},
		{"GET", "/api/v1/no-such-route", 401, "application/problem+json"},
		{"GET", "/api/v1/no-such-route.js", 401, "application/problem+json"},
		{"POST", "/api/v1/auth/login", 400, "application/problem+json"},
		{"GET", "/fleet/agent-1", 200, "text/html; charset=utf-8"},
		{"GET", "/assets/index-abc123.js", 200, "text/javascript; charset=utf-8"},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, "", nil)
		if r.Status != c.status || !strings.HasPrefix(r.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, r.Status, r.Header.Get("Content-Type"), c.status, c.ctype)
		}
	}
	// A logged-in API call is untouched by the fallback.
	tok, _ := e.login("admin", adminPassword)
	if r := e.do("GET", "/api/v1/status", tok, nil); r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status with a token: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
}
