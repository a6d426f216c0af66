package dashboard

import (
	"io/fs"
	"strings"
	"testing"
)

// TestFiles: either the built UI (index.html loading a hashed module script)
// or the placeholder that says how to build it.
func TestFiles(t *testing.T) {
	ui, built := Files()
	if built {
		b, err := fs.ReadFile(ui, "index.html")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `type="module"`) || !strings.Contains(string(b), "/assets/") {
			t.Fatalf("index.html does not load a hashed module: %s", b)
		}
		return
	}
	b, err := fs.ReadFile(ui, Placeholder)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "make build") {
		t.Fatalf("placeholder does not say how to build the UI: %s", b)
	}
}
