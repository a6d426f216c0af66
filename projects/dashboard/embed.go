// Package dashboard holds the web UI's built files (vite build writes them
// to dist/ui) for embedding in the phoenix binary. It has no dependencies:
// the composition root hands Files() to the gateway, so no project imports
// another (docs/decisions/0020-dashboard-embedding.md).
package dashboard

import (
	"embed"
	"io/fs"
)

// dist always holds placeholder.html (committed), so a Go-only build
// compiles; dist/ui exists only after `npm run build`.
//
//go:embed all:dist
var dist embed.FS

// Placeholder is the page served when the UI was not built.
const Placeholder = "placeholder.html"

// Files returns the built UI (index.html at its root) and true, or, when
// the binary was built without it, a file system holding only Placeholder
// and false.
func Files() (fs.FS, bool) {
	ui, err := fs.Sub(dist, "dist/ui")
	if err == nil {
		if _, err := fs.Stat(ui, "index.html"); err == nil {
			return ui, true
		}
	}
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // unreachable: dist is embedded
	}
	return root, false
}
