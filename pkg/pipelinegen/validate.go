package pipelinegen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// EnvCollectorBin overrides where phoenix-collector is found.
const EnvCollectorBin = "PHOENIX_COLLECTOR_BIN"

// DefaultCollectorBin is $PHOENIX_COLLECTOR_BIN, else phoenix-collector
// beside the running executable, else phoenix-collector on $PATH.
func DefaultCollectorBin() string {
	if p := os.Getenv(EnvCollectorBin); p != "" {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "phoenix-collector")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "phoenix-collector"
}

// ErrNoCollector reports that the collector binary cannot be run, so a
// config could not be validated (as opposed to being invalid).
var ErrNoCollector = errors.New("phoenix-collector not available")

// ErrValidationTimeout reports that the collector did not finish within
// Validator.Timeout; it wraps ErrNoCollector too (no verdict).
var ErrValidationTimeout = errors.New("validation timed out")

// Validator checks configs with the real collector: `<bin> validate
// --config FILE` in a subprocess, because the collector is its own module
// and cannot be imported. Each run costs a process start, so at most
// maxParallel run at once; more callers wait (bounded by their context).
// A config is first checked against CheckConfig's bounds, and each
// caller marked with WithCaller has at most CallerLimits validations
// running (429 past it).
type Validator struct {
	Bin     string
	Timeout time.Duration // per run; default 10s
	// Env is the collector's environment; nil inherits this process's.
	// A server sets it empty: `${env:...}` in a config must not expand to
	// the server's secrets in error messages.
	Env     []string
	Callers CallerLimits
	slots   chan struct{}

	// The verdict for a config never changes for one binary, and a config
	// is often validated twice (generate, then store): remember the last
	// cacheSize verdicts by config hash, failures included, so a hostile
	// config costs one run however often it is sent. A timeout is kept
	// for timeoutTTL only (it may say more about the load than the config).
	// Identical configs arriving together share one run (inflight, one
	// entry per distinct config being validated: bounded by the callers
	// waiting, each of whom holds a caller slot when marked).
	mu       sync.Mutex
	cache    map[string]verdict
	order    []string
	inflight map[string]*flight
	running  map[string]int // validations in progress by caller id
}

const cacheSize = 256

// timeoutTTL is how long a timed-out validation is answered from cache.
const timeoutTTL = time.Minute

type verdict struct {
	errs []problem.FieldError
	err  error     // nil or ErrValidationTimeout
	exp  time.Time // zero: until evicted
}

// flight is one run of the collector that identical requests wait for.
type flight struct {
	done chan struct{}
	v    verdict
}

const maxParallel = 4

// NewValidator returns a validator for bin ("" for DefaultCollectorBin).
func NewValidator(bin string) *Validator {
	if bin == "" {
		bin = DefaultCollectorBin()
	}
	return &Validator{Bin: bin, Timeout: 10 * time.Second, slots: make(chan struct{}, maxParallel),
		cache: map[string]verdict{}, inflight: map[string]*flight{}, running: map[string]int{}}
}

// Available reports whether the binary can be found, and why not.
func (v *Validator) Available() (bool, string) {
	if _, err := exec.LookPath(v.Bin); err != nil {
		return false, fmt.Sprintf("collector binary %s not found (set --collector-bin or %s)", v.Bin, EnvCollectorBin)
	}
	return true, ""
}

// Validate runs the collector on config. It returns the collector's
// complaints as field errors in the collector's own path form
// (`processors::phoenix_topk::k`), nil for a valid config, or an error
// wrapping ErrNoCollector when the binary could not run. A config past
// CheckConfig's bounds is refused without running anything.
func (v *Validator) Validate(ctx context.Context, config []byte) ([]problem.FieldError, error) {
	key := Hash(config)
	if c, ok := v.cached(key); ok {
		return c.errs, c.err
	}
	if errs := CheckConfig(config); len(errs) > 0 {
		v.remember(key, verdict{errs: errs})
		return errs, nil
	}
	if ok, why := v.Available(); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoCollector, why)
	}
	for {
		v.mu.Lock()
		if c, ok := v.cachedLocked(key); ok {
			v.mu.Unlock()
			return c.errs, c.err
		}
		if f, ok := v.inflight[key]; ok {
			v.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("wait for the same config's validation: %w", ctx.Err())
			}
			if cacheable(f.v.err) {
				return f.v.errs, f.v.err
			}
			continue // that caller gave up; run it for this one
		}
		who, limited := callerOf(ctx)
		if limited {
			if max := v.Callers.of(who.role); v.running[who.id] >= max {
				v.mu.Unlock()
				return nil, errTooManyForCaller(max)
			}
			v.running[who.id]++
		}
		f := &flight{done: make(chan struct{})}
		v.inflight[key] = f
		v.mu.Unlock()

		errs, err := v.run(ctx, config)
		f.v = verdict{errs: errs, err: err}
		if errors.Is(err, ErrValidationTimeout) {
			f.v.exp = time.Now().Add(timeoutTTL)
		}
		v.mu.Lock()
		delete(v.inflight, key)
		if limited {
			if v.running[who.id]--; v.running[who.id] <= 0 {
				delete(v.running, who.id) // the map holds only callers with runs in progress
			}
		}
		if cacheable(err) {
			v.rememberLocked(key, f.v)
		}
		v.mu.Unlock()
		close(f.done)
		return errs, err
	}
}

func (v *Validator) cached(key string) (verdict, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cachedLocked(key)
}

func (v *Validator) cachedLocked(key string) (verdict, bool) {
	c, ok := v.cache[key]
	return c, ok && (c.exp.IsZero() || time.Now().Before(c.exp))
}

// cacheable: a verdict, or a timeout; not a caller's cancellation or a
// broken binary.
func cacheable(err error) bool { return err == nil || errors.Is(err, ErrValidationTimeout) }

func (v *Validator) remember(key string, c verdict) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rememberLocked(key, c)
}

func (v *Validator) rememberLocked(key string, c verdict) {
	if _, ok := v.cache[key]; ok {
		v.cache[key] = c
		return
	}
	if len(v.order) >= cacheSize {
		delete(v.cache, v.order[0])
		v.order = v.order[1:]
	}
	v.cache[key] = c
	v.order = append(v.order, key)
}

// run spawns the collector once.
func (v *Validator) run(ctx context.Context, config []byte) ([]problem.FieldError, error) {
	select {
	case v.slots <- struct{}{}:
		defer func() { <-v.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a validation slot: %w", ctx.Err())
	}
	f, err := os.CreateTemp("", "phoenix-validate-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("write config for validation: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(config); err != nil {
		f.Close()
		return nil, fmt.Errorf("write config for validation: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write config for validation: %w", err)
	}
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.Bin, "validate", "--config", f.Name())
	if v.Env != nil {
		cmd.Env = v.Env
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err = cmd.Run()
	if err == nil {
		return nil, nil
	}
	var exit *exec.ExitError
	if ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
		return nil, fmt.Errorf("%w: %w: the collector took over %s", ErrNoCollector, ErrValidationTimeout, timeout)
	}
	if !errors.As(err, &exit) || ctx.Err() != nil {
		return nil, fmt.Errorf("%w: run %s validate: %v", ErrNoCollector, v.Bin, err)
	}
	msg := strings.ReplaceAll(stderr.String(), f.Name(), "config")
	return ParseCollectorError(msg), nil
}

// Patterns of the collector's (v0.160.0) config errors.
var (
	// processors::phoenix_topk/a: k: must be positive
	reComponentPath = regexp.MustCompile(`^((?:receivers|processors|exporters|extensions|connectors|service)(?:::[^\s:]+(?:/[^\s:]*)?)+):\s*(.*)$`)
	// 'processors' error reading configuration for "memory_limiter": ...
	reReading = regexp.MustCompile(`'(receivers|processors|exporters|extensions|connectors)' error reading configuration for "([^"]+)"`)
	// 'exporters' unknown type: "otlpxx" for id: "otlpxx" (...)
	reUnknownType = regexp.MustCompile(`'(receivers|processors|exporters|extensions|connectors)' unknown type: "[^"]*" for id: "([^"]+)"`)
	// 'memorylimiter.Config' has invalid keys: bogus, other
	reInvalidKeys = regexp.MustCompile(`has invalid keys: (.+)$`)
	// 'k' expected type 'int', got unconvertible type 'string'
	reKeyType = regexp.MustCompile(`'([A-Za-z0-9_.\[\]]+)' (expected type .*|cannot parse .*)$`)
	// a leading YAML key in a component's own message: "k: must be ..."
	reLeadingKey = regexp.MustCompile(`^([a-z][a-z0-9_]*(?:\[[0-9]+\])?(?:\.[a-z][a-z0-9_]*)*|'[a-z][a-z0-9_]*'):\s+(.+)$`)
	reDupPrefix  = regexp.MustCompile(`(?m)^[\w.-]+: `)
)

// ParseCollectorError maps the output of a failed `validate` to field
// errors. Paths use the collector's form: `kind::id` plus `::key` where the
// message names one. A message it cannot place gets the path "" (the whole
// config), so nothing the collector said is lost.
func ParseCollectorError(output string) []problem.FieldError {
	msg := collectorMessage(output)
	if msg == "" {
		return []problem.FieldError{{Path: "", Message: "the collector rejected the config without a message"}}
	}
	if m := reUnknownType.FindStringSubmatch(msg); m != nil {
		return []problem.FieldError{{Path: m[1] + "::" + m[2], Message: oneLine(msg[strings.Index(msg, m[0]):])}}
	}
	if m := reReading.FindStringSubmatch(msg); m != nil {
		base := m[1] + "::" + m[2]
		rest := lines(msg[strings.Index(msg, m[0])+len(m[0]):])
		var out []problem.FieldError
		for _, l := range rest {
			if k := reInvalidKeys.FindStringSubmatch(l); k != nil {
				for _, key := range strings.Split(k[1], ",") {
					key = strings.TrimSpace(key)
					out = append(out, problem.FieldError{Path: base + "::" + key, Message: "invalid key " + key})
				}
				continue
			}
			if k := reKeyType.FindStringSubmatch(l); k != nil {
				out = append(out, problem.FieldError{Path: base + "::" + strings.ReplaceAll(k[1], ".", "::"), Message: k[2]})
				continue
			}
			if l != "decoding failed due to the following error(s):" {
				out = append(out, problem.FieldError{Path: base, Message: l})
			}
		}
		if len(out) == 0 {
			out = append(out, problem.FieldError{Path: base, Message: oneLine(msg)})
		}
		return out
	}
	var out []problem.FieldError
	for _, l := range lines(msg) {
		m := reComponentPath.FindStringSubmatch(l)
		if m == nil {
			if len(out) > 0 && out[len(out)-1].Path != "" {
				// errors.Join inside a component: later lines belong to
				// the same component.
				last := out[len(out)-1]
				base := componentBase(last.Path)
				out = append(out, componentError(base, l))
				continue
			}
			out = append(out, problem.FieldError{Path: "", Message: l})
			continue
		}
		out = append(out, componentError(m[1], m[2]))
	}
	if len(out) == 0 {
		out = append(out, problem.FieldError{Path: "", Message: msg})
	}
	return out
}

// componentBase strips a key from kind::id::key.
func componentBase(path string) string {
	parts := strings.SplitN(path, "::", 3)
	if len(parts) >= 2 && parts[0] != "service" {
		return parts[0] + "::" + parts[1]
	}
	return path
}

// componentError places "key: message" under the component.
func componentError(base, rest string) problem.FieldError {
	if !strings.HasPrefix(base, "service") {
		if k := reLeadingKey.FindStringSubmatch(rest); k != nil {
			key := strings.Trim(k[1], "'")
			key = strings.NewReplacer("[", ".", "]", "").Replace(key)
			return problem.FieldError{Path: base + "::" + strings.ReplaceAll(key, ".", "::"), Message: k[2]}
		}
	}
	return problem.FieldError{Path: base, Message: rest}
}

// collectorMessage extracts the error from validate's output: the CLI
// prints "Error: <msg>" and the main function repeats it as
// "<binary>: <msg>"; keep one copy.
func collectorMessage(out string) string {
	out = strings.TrimSpace(out)
	if i := strings.Index(out, "Error: "); i >= 0 {
		out = out[i+len("Error: "):]
	}
	// Drop the repeated copy printed by main.
	first := strings.SplitN(out, "\n", 2)[0]
	if loc := reDupPrefix.FindAllStringIndex(out, -1); len(loc) > 0 {
		for _, l := range loc {
			if l[0] > 0 && strings.HasPrefix(out[l[1]:], first) {
				out = out[:l[0]]
				break
			}
		}
	}
	return strings.TrimSpace(out)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), ":"))
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(lines(s), " ") }

// reProviderRef finds config provider references: ${scheme:...}.
var reProviderRef = regexp.MustCompile(`\$\{\s*([A-Za-z][A-Za-z0-9+.-]*):`)

// ForeignProviderRefs lists the config provider references other than
// ${env:...} (file, http, https, yaml...). A server must refuse them before
// validating: the collector would read files or fetch URLs on the caller's
// behalf and echo them in its error messages.
func ForeignProviderRefs(config []byte) []string {
	var out []string
	for _, m := range reProviderRef.FindAllSubmatch(config, -1) {
		if scheme := string(m[1]); scheme != "env" {
			out = append(out, scheme)
		}
	}
	return out
}
