package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHealthOf(t *testing.T) {
	tests := []struct {
		file, url, err string
	}{
		{file: "default_endpoint.yaml", url: "http://127.0.0.1:13133/"},
		{file: "custom.yaml", url: "http://127.0.0.1:23133/status"},
		{file: "not_enabled.yaml", url: ""},
		{file: "localhost.yaml", url: "http://127.0.0.1:14133/healthz"},
		{file: "dev.yaml", url: "http://127.0.0.1:13133/"},
		{file: "bad_endpoint.yaml", err: "extensions::health_check::endpoint"},
		{file: "malformed.yaml", err: "parse collector config"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "health", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			h, err := HealthOf(b)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || h.URL != tt.url {
				t.Fatalf("HealthOf = %q, %v; want %q", h.URL, err, tt.url)
			}
		})
	}
}

func FuzzHealthOf(f *testing.F) {
	files, _ := filepath.Glob("testdata/health/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := HealthOf(b)
		if err == nil && h.URL != "" && !strings.HasPrefix(h.URL, "http://") {
			t.Fatalf("URL %q", h.URL)
		}
	})
}

// fakeBin builds the stand-in collector (a real process) once per test run.
func fakeBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakecollector")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/fakecollector").CombinedOutput()
	if err != nil {
		t.Fatalf("build fake collector: %v\n%s", err, out)
	}
	return bin
}

func writeConfig(t *testing.T, dir, name, fake, healthAddr string) (string, []byte) {
	t.Helper()
	body := fmt.Sprintf("fake: {%s}\nextensions:\n  health_check: {endpoint: %q}\nservice:\n  extensions: [health_check]\n", fake, healthAddr)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, []byte(body)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestSupervisor(t *testing.T) {
	bin := fakeBin(t)
	dir := t.TempDir()
	ctx := context.Background()
	s := New(Settings{Bin: bin, Logger: slog.New(slog.DiscardHandler), HealthTimeout: 5 * time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, StopTimeout: 5 * time.Second})
	defer s.Stop()

	t.Run("validate", func(t *testing.T) {
		good, _ := writeConfig(t, dir, "good.yaml", "", testutil.FreeAddr(t))
		if err := s.Validate(ctx, good); err != nil {
			t.Fatalf("good config: %v", err)
		}
		bad, _ := writeConfig(t, dir, "bad.yaml", "invalid: true", testutil.FreeAddr(t))
		err := s.Validate(ctx, bad)
		if err == nil || !strings.Contains(err.Error(), "invalid keys") {
			t.Fatalf("invalid config: %v", err)
		}
	})

	t.Run("run healthy", func(t *testing.T) {
		p, body := writeConfig(t, dir, "run.yaml", "", testutil.FreeAddr(t))
		if err := s.Run(ctx, p, body); err != nil {
			t.Fatal(err)
		}
		if ok, detail := s.Check(ctx); !ok {
			t.Fatalf("not healthy: %s", detail)
		}
	})

	t.Run("crash restarts with backoff", func(t *testing.T) {
		pid := s.State().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			st := s.State()
			ok, _ := s.Check(ctx)
			return st.PID != 0 && st.PID != pid && st.Restarts == 1 && ok
		}, "collector not restarted after SIGKILL: %+v", s.State())
		if !strings.Contains(s.State().LastError, "signal: killed") {
			t.Errorf("last error = %q", s.State().LastError)
		}
	})

	t.Run("unhealthy config fails", func(t *testing.T) {
		short := New(Settings{Bin: bin, Logger: slog.New(slog.DiscardHandler), HealthTimeout: 500 * time.Millisecond})
		defer short.Stop()
		p, body := writeConfig(t, dir, "unhealthy.yaml", "unhealthy: true", testutil.FreeAddr(t))
		err := short.Run(ctx, p, body)
		if err == nil || !strings.Contains(err.Error(), "answered 503") {
			t.Fatalf("Run = %v, want health failure", err)
		}
	})

	t.Run("crash at start fails", func(t *testing.T) {
		p, body := writeConfig(t, dir, "crash.yaml", "crash: true", testutil.FreeAddr(t))
		err := s.Run(ctx, p, body)
		if err == nil || !strings.Contains(err.Error(), "fake crash requested") {
			t.Fatalf("Run = %v, want the collector's last output", err)
		}
	})

	t.Run("stop kills the process group", func(t *testing.T) {
		p, body := writeConfig(t, dir, "child.yaml", "child: true", testutil.FreeAddr(t))
		if err := s.Run(ctx, p, body); err != nil {
			t.Fatal(err)
		}
		pid := s.State().PID
		var child int
		testutil.Eventually(t, 5*time.Second, func() bool {
			b, err := os.ReadFile(p + ".child")
			if err != nil {
				return false
			}
			_, err = fmt.Sscan(string(b), &child)
			return err == nil
		}, "child pid not written")
		s.Stop()
		if st := s.State(); st.Running || st.PID != 0 {
			t.Fatalf("state after stop: %+v", st)
		}
		// Reap check: the collector is our child (waited); the grandchild
		// is re-parented, so poll until it is gone.
		testutil.Eventually(t, 5*time.Second, func() bool { return !alive(child) || zombie(child) }, "grandchild %d survived", child)
		if alive(pid) && !zombie(pid) {
			t.Fatalf("collector %d survived Stop", pid)
		}
	})
}

// zombie reports whether pid has exited but is not reaped yet (its parent
// is init or a subreaper outside the test's control).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func TestLineWriterAndTail(t *testing.T) {
	tl := newTail(3)
	w := &lineWriter{tail: tl, log: slog.New(slog.DiscardHandler)}
	for _, chunk := range []string{"first li", "ne\nsecond\nthi", "rd\nfourth\nfif", "th\n"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := strings.Join(tl.lines, "|"); got != "third|fourth|fifth" {
		t.Fatalf("tail = %q", got)
	}
	long := strings.Repeat("x", 70<<10)
	_, _ = w.Write([]byte(long))
	if len(w.buf) != 0 || len(tl.lines[len(tl.lines)-1]) != 1024+3 {
		t.Fatalf("long line not cut: buffered %d, last line %d", len(w.buf), len(tl.lines[len(tl.lines)-1]))
	}
}

// TestEnv: Settings.Env reaches both `validate` and the running collector,
// and wins over a variable of the same name the supervisor inherited; with
// no Env the collector inherits the environment unchanged.
func TestEnv(t *testing.T) {
	bin := fakeBin(t)
	t.Setenv("PHOENIX_INGEST_TOKEN", "inherited")
	t.Setenv("PHOENIX_AGENT_ID", "inherited-id")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"inherited", nil, "PHOENIX_INGEST_TOKEN=inherited\nPHOENIX_AGENT_ID=inherited-id\n"},
		{"set", []string{"PHOENIX_INGEST_TOKEN=phx_secret", "PHOENIX_AGENT_ID=0193a4b2-0000-7000-8000-000000000001"},
			"PHOENIX_INGEST_TOKEN=phx_secret\nPHOENIX_AGENT_ID=0193a4b2-0000-7000-8000-000000000001\n"},
		{"empty token overrides", []string{"PHOENIX_INGEST_TOKEN=", "PHOENIX_AGENT_ID=a1"},
			"PHOENIX_INGEST_TOKEN=\nPHOENIX_AGENT_ID=a1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "env")
			s := New(Settings{Bin: bin, Logger: slog.New(slog.DiscardHandler), HealthTimeout: 5 * time.Second, Env: tt.env})
			defer s.Stop()
			p, body := writeConfig(t, dir, "env.yaml", fmt.Sprintf("env_file: %q", out), testutil.FreeAddr(t))
			ctx := context.Background()
			if err := s.Validate(ctx, p); err != nil {
				t.Fatal(err)
			}
			if err := s.Run(ctx, p, body); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{"validate", "run"} {
				b, err := os.ReadFile(out + "." + mode)
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if string(b) != tt.want {
					t.Errorf("%s saw %q, want %q", mode, b, tt.want)
				}
			}
		})
	}
}
