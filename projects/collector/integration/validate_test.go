package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// validate runs `phoenix-collector validate --config path` and returns its
// combined output and whether it exited zero.
func validate(t *testing.T, path string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "validate", "--config", path).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run validate: %v", err)
		}
		return string(out), false
	}
	return string(out), true
}

// expectedError reads the `# error: <fragment>` first line of a bad config.
func expectedError(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	require.True(t, sc.Scan(), "%s is empty", path)
	frag, ok := strings.CutPrefix(sc.Text(), "# error: ")
	require.True(t, ok, "%s must start with '# error: <expected fragment>'", path)
	return frag
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "validate", "*.bad.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := expectedError(t, path)
			out, ok := validate(t, path)
			require.False(t, ok, "validate accepted %s:\n%s", path, out)
			require.Contains(t, out, want)
		})
	}
}

func TestValidateAcceptsGoodConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "validate", "*.good.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out, ok := validate(t, path)
			require.True(t, ok, "validate rejected %s:\n%s", path, out)
		})
	}
}
