package gateway

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/httpx"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Option configures the gateway beyond its service settings.
type Option func(*Gateway)

// WithUI serves the dashboard from fsys at every path outside /api/ that no
// spec route claims (docs/decisions/0020-dashboard-embedding.md). fsys holds
// the built UI (index.html at its root, hashed files under assets/) or, when
// built is false, only placeholderName, served for every page.
func WithUI(fsys fs.FS, built bool, placeholderName string) Option {
	return func(g *Gateway) { g.uiFS, g.uiBuilt, g.uiPlaceholder = fsys, built, placeholderName }
}

// immutable is the Cache-Control of content-hashed files: their name
// changes with their content, so a browser may keep them for a year.
const immutable = "public, max-age=31536000, immutable"

// minCompress is the smallest body worth compressing: below it the gzip
// header and a round trip of CPU cost more than the bytes saved.
const minCompress = 512

// uiAsset is one file of the UI with its encodings, prepared at start-up:
// the embedded files are fixed, so the set is bounded by the build.
type uiAsset struct {
	body, gz, br []byte
	ctype, etag  string
	cache        string
}

// uiHandler serves the single-page app: files as they are, and index.html
// for every other path (client-side routes), so a reload of /fleet works.
type uiHandler struct {
	assets map[string]*uiAsset
	index  *uiAsset
}

// newUIHandler reads every file of fsys once. Brotli comes precompressed
// from the build (name.br beside name; Go has no brotli encoder in the
// standard library); gzip is made here when the build brought none.
func newUIHandler(fsys fs.FS, built bool, placeholder string) (*uiHandler, error) {
	h := &uiHandler{assets: map[string]*uiAsset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".gz") {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read ui file %s: %w", p, err)
		}
		a := &uiAsset{body: body, ctype: uiTypes[path.Ext(p)], cache: "no-cache"}
		if a.ctype == "" {
			a.ctype = mime.TypeByExtension(path.Ext(p))
		}
		if a.ctype == "" {
			a.ctype = http.DetectContentType(body)
		}
		if strings.HasPrefix(p, "assets/") {
			a.cache = immutable
		}
		sum := sha256.Sum256(body)
		a.etag = hex.EncodeToString(sum[:8])
		if compressible(a.ctype) && len(body) >= minCompress {
			if br, err := fs.ReadFile(fsys, p+".br"); err == nil {
				a.br = br
			}
			if gz, err := fs.ReadFile(fsys, p+".gz"); err == nil {
				a.gz = gz
			} else if a.gz, err = gzipBytes(body); err != nil {
				return fmt.Errorf("gzip ui file %s: %w", p, err)
			}
		}
		h.assets[p] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	entry := "index.html"
	if !built {
		entry = placeholder
	}
	if h.index = h.assets[entry]; h.index == nil {
		return nil, fmt.Errorf("ui: %s missing from the embedded files", entry)
	}
	return h, nil
}

// uiTypes fixes the types a Vite build produces, so they do not depend on
// the host's /etc/mime.types.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".json": "application/json", ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml",
	".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "application/json", "application/manifest+json", "image/svg+xml"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (h *uiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpx.WriteError(w, r, problem.New(http.StatusMethodNotAllowed, "method %s not allowed here", r.Method))
		return
	}
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	a := h.assets[p]
	switch {
	case a != nil && p != "index.html":
	case strings.HasPrefix(p, "assets/") || (path.Ext(p) != "" && p != "index.html"):
		// A missing file is a 404, not the app: a stale hashed name would
		// otherwise get HTML where the browser wants a script.
		httpx.WriteError(w, r, problem.NotFound("no file %s", r.URL.Path))
		return
	default:
		a = h.index // a client-side route
	}
	a.serve(w, r)
}

// serve writes the best encoding the client accepts. Vary is set whenever
// the answer could differ by Accept-Encoding, so caches keep them apart.
func (a *uiAsset) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", a.cache)
	body, etag := a.body, a.etag
	if a.gz != nil || a.br != nil {
		hd.Add("Vary", "Accept-Encoding")
		switch accept := r.Header.Get("Accept-Encoding"); {
		case a.br != nil && acceptsEncoding(accept, "br"):
			body, etag = a.br, etag+"-br"
			hd.Set("Content-Encoding", "br")
		case a.gz != nil && acceptsEncoding(accept, "gzip"):
			body, etag = a.gz, etag+"-gz"
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsEncoding reports whether an Accept-Encoding header lists enc with
// a non-zero quality.
func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
