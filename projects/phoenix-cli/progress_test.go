package phoenixcli

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShowWhile: elsewhere than a terminal one plain line, on a terminal a
// spinner ended by a newline; f's error comes back either way.
func TestShowWhile(t *testing.T) {
	var plain strings.Builder
	want := errors.New("collector said no")
	if err := showWhile(context.Background(), &plain, "validating x.yaml", func() error { return want }); err != want {
		t.Fatalf("error %v", err)
	}
	if got := plain.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "validating x.yaml (elapsed 0s)") || strings.Contains(got, "\r") {
		t.Errorf("plain: %q", got)
	}
	// On a terminal: the spinner turns while f runs (f waits for two
	// frames) and the line ends when f returns.
	var tty syncBuffer
	err := spinWhile(context.Background(), &liveLine{w: &tty, tty: true, start: time.Now()}, "validating x.yaml", func() error {
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(tty.String(), "\r\033[K") < 3 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		return nil
	})
	if got := tty.String(); err != nil || strings.Count(got, "\r\033[K") < 3 || !strings.HasSuffix(got, "\n") || !strings.Contains(got, "validating x.yaml") {
		t.Errorf("spinner: %v %q", err, got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuietDropsProgress: --quiet sends progress nowhere, results still
// print.
func TestQuietDropsProgress(t *testing.T) {
	f := &expAPI{script: []string{"running", "succeeded"}, results: passed}
	api := startExpAPI(t, f)
	out, stderr, err := runCLI(t, "experiment", "run", "-f", writeSpec(t), "--wait", "--interval", "10ms", "--quiet", api)
	if err != nil || stderr != "" || !strings.Contains(out, "WINNER") {
		t.Errorf("--quiet: %v\nstdout:\n%s\nstderr:\n%q", err, out, stderr)
	}
	_, stderr, _ = runCLI(t, "experiment", "run", "-f", writeSpec(t), "--wait", "--interval", "10ms", api)
	if !strings.Contains(stderr, "started") {
		t.Errorf("without --quiet no progress: %q", stderr)
	}
}
