// Package supervisor runs one phoenix-collector process: it validates
// configs with `phoenix-collector validate`, starts the collector in its own
// process group, waits until its health_check extension answers, restarts it
// with bounded exponential backoff when it crashes, and stops it (the whole
// group) on demand.
package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults.
const (
	DefaultMinBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultStableAfter   = 30 * time.Second
	DefaultHealthTimeout = 30 * time.Second
	DefaultStopTimeout   = 10 * time.Second
	// noHealthGrace is how long a collector without a health_check
	// extension must stay up to count as started.
	noHealthGrace = 2 * time.Second
	tailLines     = 40
)

// Settings configures a Supervisor.
type Settings struct {
	Bin           string
	Logger        *slog.Logger
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	StableAfter   time.Duration // a run this long resets the backoff
	HealthTimeout time.Duration // how long a new config has to become healthy
	StopTimeout   time.Duration // SIGTERM, then SIGKILL after this
	// OnChange is called (without locks held) when the process starts or exits.
	OnChange func()
	// Env ("KEY=value") is added to this process's environment for every
	// collector run and validation; it wins over inherited variables of the
	// same name. It may hold secrets: it is never logged.
	Env []string
}

// State is what the supervisor knows about the collector.
type State struct {
	Config    string    // path of the config being run; empty when stopped
	Running   bool      // a process is alive
	PID       int       // 0 when not running
	StartedAt time.Time // start of the current process
	Restarts  int       // crash restarts of the current config
	LastError string    // last exit or start error, with the collector's last log lines
}

// Supervisor owns the collector process.
type Supervisor struct {
	set     Settings
	mu      sync.Mutex
	state   State
	health  Health
	stop    chan struct{} // closes to stop the current loop
	done    chan struct{} // closed when the current loop returned
	exitGen int           // increments on every process exit
}

// New returns a supervisor; nothing runs until Run.
func New(set Settings) *Supervisor {
	if set.MinBackoff <= 0 {
		set.MinBackoff = DefaultMinBackoff
	}
	if set.MaxBackoff <= 0 {
		set.MaxBackoff = DefaultMaxBackoff
	}
	if set.StableAfter <= 0 {
		set.StableAfter = DefaultStableAfter
	}
	if set.HealthTimeout <= 0 {
		set.HealthTimeout = DefaultHealthTimeout
	}
	if set.StopTimeout <= 0 {
		set.StopTimeout = DefaultStopTimeout
	}
	if set.OnChange == nil {
		set.OnChange = func() {}
	}
	return &Supervisor{set: set}
}

// State returns a snapshot.
func (s *Supervisor) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Validate runs `<bin> validate --config path` and returns its complaint.
func (s *Supervisor) Validate(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.set.Bin, "validate", "--config", path)
	cmd.Env = s.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 4096 {
			msg = msg[:4096] + "..."
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("phoenix-collector validate: %s", msg)
	}
	return nil
}

// Run stops whatever runs now and starts the collector on the config at
// path, then waits until it is healthy (its health_check answers 200, or,
// without one, it stays up for a grace period). It returns an error when
// the collector exits or stays unhealthy; the supervisor keeps trying to
// run path with backoff until the next Run or Stop.
func (s *Supervisor) Run(ctx context.Context, path string, cfg []byte) error {
	h, err := HealthOf(cfg)
	if err != nil {
		return err
	}
	s.Stop()
	s.mu.Lock()
	s.state = State{Config: path}
	s.health = h
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	stop, done := s.stop, s.done
	gen := s.exitGen
	s.mu.Unlock()
	go s.loop(path, stop, done)
	return s.waitHealthy(ctx, gen)
}

func (s *Supervisor) waitHealthy(ctx context.Context, gen int) error {
	deadline := time.Now().Add(s.set.HealthTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		st, exited := s.state, s.exitGen != gen
		s.mu.Unlock()
		if exited {
			return fmt.Errorf("collector exited during start: %s", st.LastError)
		}
		if st.Running {
			ok, detail := s.Check(ctx)
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("collector not healthy within %s: %s", s.set.HealthTimeout, detail)
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("collector did not start within %s: %s", s.set.HealthTimeout, st.LastError)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Check reports whether the running collector is healthy, and why not.
func (s *Supervisor) Check(ctx context.Context) (bool, string) {
	s.mu.Lock()
	st, h := s.state, s.health
	s.mu.Unlock()
	if !st.Running {
		if st.Config == "" {
			return false, "no config"
		}
		return false, "collector not running: " + st.LastError
	}
	if h.URL == "" {
		if time.Since(st.StartedAt) < noHealthGrace {
			return false, "starting (no health_check extension)"
		}
		return true, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, "health_check: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("health_check answered %d", resp.StatusCode)
	}
	return true, ""
}

// Stop terminates the collector (SIGTERM to its process group, SIGKILL
// after the stop timeout) and ends supervision; idempotent.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	s.mu.Lock()
	s.state.Config = ""
	s.mu.Unlock()
}

// loop runs the collector on path until stop closes, restarting it after
// crashes with exponential backoff bounded by MaxBackoff.
func (s *Supervisor) loop(path string, stop, done chan struct{}) {
	defer close(done)
	backoff := s.set.MinBackoff
	for {
		tail := newTail(tailLines)
		cmd, exited, err := s.spawn(path, tail)
		started := time.Now()
		if err == nil {
			s.mu.Lock()
			s.state.Running, s.state.PID, s.state.StartedAt = true, cmd.Process.Pid, started
			s.mu.Unlock()
			s.set.Logger.Info("collector started", "pid", cmd.Process.Pid, "config", path)
			s.set.OnChange()
			select {
			case <-stop:
				s.terminate(cmd, exited)
				s.mu.Lock()
				s.state.Running, s.state.PID = false, 0
				s.exitGen++
				s.mu.Unlock()
				s.set.OnChange()
				return
			case err = <-exited:
			}
			err = fmt.Errorf("collector exited: %v; last output: %s", err, tail.String())
		} else {
			err = fmt.Errorf("start collector: %w", err)
		}
		if time.Since(started) >= s.set.StableAfter {
			backoff = s.set.MinBackoff
		}
		s.mu.Lock()
		s.state.Running, s.state.PID, s.state.LastError = false, 0, err.Error()
		s.state.Restarts++
		s.exitGen++
		s.mu.Unlock()
		s.set.Logger.Warn("collector crashed; restarting", "error", err, "backoff", backoff.String())
		s.set.OnChange()
		t := time.NewTimer(backoff)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.set.MaxBackoff)
	}
}

func (s *Supervisor) spawn(path string, tail *tail) (*exec.Cmd, chan error, error) {
	cmd := exec.Command(s.set.Bin, "--config", path)
	cmd.Env = s.env()
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdout = io.Discard
	cmd.Stderr = &lineWriter{tail: tail, log: s.set.Logger}
	// A grandchild holding stderr open must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, exited, nil
}

// env is the collector's environment: ours plus Settings.Env, whose
// entries come last so they win (os/exec keeps the last of duplicate keys).
func (s *Supervisor) env() []string {
	if len(s.set.Env) == 0 {
		return nil // inherit
	}
	return append(os.Environ(), s.set.Env...)
}

// lineWriter splits the collector's stderr into lines for the tail and the
// debug log; a line longer than 64 KiB is cut.
type lineWriter struct {
	tail *tail
	log  *slog.Logger
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) line(l string) {
	w.tail.add(l)
	w.log.Debug("collector", "line", l)
}

// terminate asks the process group to stop and kills it after StopTimeout.
func (s *Supervisor) terminate(cmd *exec.Cmd, exited chan error) {
	pid := cmd.Process.Pid
	_ = signalGroup(pid, syscall.SIGTERM)
	t := time.NewTimer(s.set.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		s.set.Logger.Warn("collector ignored SIGTERM; killing", "pid", pid)
		_ = signalGroup(pid, syscall.SIGKILL)
		<-exited
	}
	// Anything the collector spawned in its group goes too.
	_ = signalGroup(pid, syscall.SIGKILL)
	s.set.Logger.Info("collector stopped", "pid", pid)
}

// signalGroup signals the process group led by pid (the collector runs in
// its own group), falling back to the process.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return syscall.Kill(pid, sig)
	}
	return nil
}

// tail keeps the last n lines of the collector's output for error reports.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(line string) {
	if len(line) > 1024 {
		line = line[:1024] + "..."
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The last few lines carry the reason; keep the report short.
	l := t.lines
	if len(l) > 5 {
		l = l[len(l)-5:]
	}
	return strings.Join(l, "\n")
}

// Exists reports whether bin is an executable file.
func Exists(bin string) bool {
	fi, err := os.Stat(bin)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
