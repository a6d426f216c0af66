package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenDir is where the generator keeps its golden collector configs:
// $PHOENIX_GENERATOR_GOLDEN, else ../generator/testdata/golden relative to
// projects/collector.
func goldenDir() string {
	if d := os.Getenv("PHOENIX_GENERATOR_GOLDEN"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "generator", "testdata", "golden")
}

// TestGeneratorGoldenConfigsValidate loads every YAML file under the golden
// directory through `phoenix-collector validate`: the collector's own config
// resolution and validation, so whatever the generator emits is what this
// distribution accepts.
func TestGeneratorGoldenConfigsValidate(t *testing.T) {
	dir := goldenDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no generator golden configs at %s (set PHOENIX_GENERATOR_GOLDEN): %v", dir, err)
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	if len(files) == 0 {
		t.Skipf("no YAML files under %s", dir)
	}
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			if out, ok := validate(t, path); !ok {
				t.Fatalf("phoenix-collector validate rejected %s:\n%s", path, out)
			}
		})
	}
}
