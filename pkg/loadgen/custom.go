package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Bounds on a custom profile, so one YAML file cannot ask for an unbounded
// fleet. The runner bounds hosts x processes separately (Config.MaxProcesses).
const (
	MaxCustomGroups     = 1000
	MaxProcessesPerHost = 20000
	maxCustomBytes      = 1 << 20
)

// CustomFile is the YAML of a custom profile:
//
//	name: my-profile            # optional
//	description: ...            # optional
//	processes:
//	  - name: "worker-{i}"      # process.executable.name template ({i}, {n}, {svc})
//	    path: /opt/app/worker   # optional, default /usr/bin/<name>
//	    command: "worker --q {i}" # optional, default the path
//	    owner: app              # optional, default root
//	    count: 20               # processes running at once per host
//	    lifetime: 90s           # optional; 0 or absent = lives the whole run
//	    cpu: spiky              # steady|spiky|growing|random
//	    memory: growing         # steady|spiky|growing|random
//	    cores: 0.2              # optional mean CPU use in cores, default 0.05
//	    rss_mib: 120            # optional mean resident memory, default 64
//	    threads: 4              # optional, default 4
type CustomFile struct {
	Name        string          `yaml:"name"`
	Description string          `yaml:"description"`
	Processes   []CustomProcess `yaml:"processes"`
}

// CustomProcess is one process group of a custom profile.
type CustomProcess struct {
	Name     string   `yaml:"name"`
	Path     string   `yaml:"path"`
	Command  string   `yaml:"command"`
	Owner    string   `yaml:"owner"`
	Parent   string   `yaml:"parent"`
	Count    int      `yaml:"count"`
	Lifetime string   `yaml:"lifetime"`
	CPU      string   `yaml:"cpu"`
	Memory   string   `yaml:"memory"`
	Cores    *float64 `yaml:"cores"`
	RSSMiB   *int64   `yaml:"rss_mib"`
	Threads  *int     `yaml:"threads"`
}

// ParseCustom reads a custom profile. Every problem is reported at once,
// each naming its YAML key (processes[2].cpu).
func ParseCustom(data []byte) (*Profile, error) {
	if len(data) > maxCustomBytes {
		return nil, fmt.Errorf("profile file is %d bytes; the limit is %d", len(data), maxCustomBytes)
	}
	var f CustomFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("processes: at least one process pattern is required (the file is empty)")
		}
		return nil, fmt.Errorf("parse profile YAML: %w", err)
	}
	p := &Profile{Name: ProfileCustom, Description: f.Description}
	if f.Name != "" {
		p.Name = f.Name
	}
	if p.Description == "" {
		p.Description = "custom process patterns"
	}
	var errs []error
	if len(f.Processes) == 0 {
		errs = append(errs, errors.New("processes: at least one process pattern is required"))
	}
	if len(f.Processes) > MaxCustomGroups {
		errs = append(errs, fmt.Errorf("processes: %d patterns; the limit is %d", len(f.Processes), MaxCustomGroups))
		return nil, errors.Join(errs...)
	}
	names := map[string]bool{}
	total := 0
	for i, cp := range f.Processes {
		key := fmt.Sprintf("processes[%d]", i)
		spec, perr := cp.spec(key)
		errs = append(errs, perr...)
		if spec.Count > 0 {
			total += spec.Count
		}
		names[spec.Name] = true
		p.Processes = append(p.Processes, spec)
	}
	for i, s := range p.Processes {
		if s.Parent != "" && !names[s.Parent] {
			errs = append(errs, fmt.Errorf("processes[%d].parent: no process pattern is named %q", i, s.Parent))
		}
	}
	if total > MaxProcessesPerHost {
		errs = append(errs, fmt.Errorf("processes: counts add up to %d processes per host; the limit is %d", total, MaxProcessesPerHost))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (cp CustomProcess) spec(key string) (ProcessSpec, []error) {
	var errs []error
	s := ProcessSpec{
		Name: cp.Name, Path: cp.Path, Command: cp.Command, Owner: cp.Owner, Parent: cp.Parent, Count: cp.Count,
		CPU: Pattern(cp.CPU), Memory: Pattern(cp.Memory), Cores: 0.05, RSS: 64 * mib, Threads: 4,
	}
	switch {
	case strings.TrimSpace(cp.Name) == "":
		errs = append(errs, fmt.Errorf("%s.name: required", key))
	case len(cp.Name) > 256:
		errs = append(errs, fmt.Errorf("%s.name: longer than 256 characters", key))
	case strings.ContainsAny(cp.Name, "/\x00\n"):
		errs = append(errs, fmt.Errorf("%s.name: must not contain '/', NUL or newlines", key))
	}
	if s.Path == "" {
		s.Path = "/usr/bin/" + cp.Name
	}
	if s.Command == "" {
		s.Command = s.Path
	}
	if s.Owner == "" {
		s.Owner = "root"
	}
	if len(s.Path) > 1024 || len(s.Command) > 1024 || len(s.Owner) > 256 || len(s.Parent) > 256 {
		errs = append(errs, fmt.Errorf("%s: path and command must be at most 1024 bytes, owner and parent at most 256", key))
	}
	for field, v := range map[string]string{"name": cp.Name, "path": cp.Path, "command": cp.Command, "owner": cp.Owner} {
		if !utf8.ValidString(v) {
			errs = append(errs, fmt.Errorf("%s.%s: not valid UTF-8", key, field))
		}
	}
	if cp.Count < 1 || cp.Count > MaxProcessesPerHost {
		errs = append(errs, fmt.Errorf("%s.count: must be from 1 to %d, got %d", key, MaxProcessesPerHost, cp.Count))
	}
	if cp.Lifetime != "" {
		d, err := time.ParseDuration(cp.Lifetime)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s.lifetime: %q is not a duration like 90s or 5m", key, cp.Lifetime))
		case d < 0:
			errs = append(errs, fmt.Errorf("%s.lifetime: must not be negative", key))
		case d > 0 && d < time.Second:
			errs = append(errs, fmt.Errorf("%s.lifetime: must be at least 1s (or 0 for the whole run)", key))
		default:
			s.Lifetime = d
		}
	}
	for _, f := range []struct {
		field string
		val   Pattern
	}{{"cpu", s.CPU}, {"memory", s.Memory}} {
		if !f.val.valid() {
			errs = append(errs, fmt.Errorf("%s.%s: must be one of steady, spiky, growing, random; got %q", key, f.field, string(f.val)))
		}
	}
	if cp.Cores != nil {
		if *cp.Cores < 0 || *cp.Cores > 1024 {
			errs = append(errs, fmt.Errorf("%s.cores: must be from 0 to 1024", key))
		}
		s.Cores = *cp.Cores
	}
	if cp.RSSMiB != nil {
		if *cp.RSSMiB < 1 || *cp.RSSMiB > 1<<20 {
			errs = append(errs, fmt.Errorf("%s.rss_mib: must be from 1 to 1048576", key))
		}
		s.RSS = *cp.RSSMiB * mib
	}
	if cp.Threads != nil {
		if *cp.Threads < 1 || *cp.Threads > 100000 {
			errs = append(errs, fmt.Errorf("%s.threads: must be from 1 to 100000", key))
		}
		s.Threads = *cp.Threads
	}
	return s, errs
}
