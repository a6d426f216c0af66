package loadgen

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Pattern is how a process's CPU or memory use evolves over its life.
type Pattern string

// Patterns a process spec may use.
const (
	Steady  Pattern = "steady"  // a constant level with a little noise
	Spiky   Pattern = "spiky"   // mostly low, with short bursts of 5-10x
	Growing Pattern = "growing" // rises with the process's age (a leak, a warming cache)
	Random  Pattern = "random"  // uniform between 10% and 200% of the level
)

// Patterns lists the valid patterns, for error messages and docs.
var Patterns = []Pattern{Steady, Spiky, Growing, Random}

func (p Pattern) valid() bool { return slices.Contains(Patterns, p) }

// ProcessSpec describes a group of identical processes on every host. Count
// processes run at once; each lives about Lifetime (0 = the whole run) and is
// replaced by a new process (new PID, so new series) when it exits.
//
// Name, Path and Command are templates: {i} is the process's slot index in
// the group, {n} how many times the slot has been respawned, {svc} a
// microservice name derived from {i}.
type ProcessSpec struct {
	Name     string        // process.executable.name (Linux truncates it to 15 characters, as /proc/<pid>/status does)
	Path     string        // process.executable.path
	Command  string        // the command line; its first word is process.command
	Owner    string        // process.owner
	Parent   string        // Name of the group whose first live process is the parent; empty = PID 1
	Count    int           // processes of this group running at once on each host
	Lifetime time.Duration // mean life; each process lives 0.5x to 1.5x of it; 0 = never exits
	CPU      Pattern
	Memory   Pattern
	Cores    float64 // mean CPU use in cores
	RSS      int64   // mean resident memory in bytes
	Threads  int     // mean thread count
}

// Spike makes a profile burst: every Every, for Length, the host runs
// Factor-1 times its usual number of processes more (Factor drawn per burst
// between MinFactor and MaxFactor), all of the Spec kind.
type Spike struct {
	Every     time.Duration
	Offset    time.Duration // first burst starts this long after the simulation starts
	Length    time.Duration
	MinFactor int
	MaxFactor int
	Spec      ProcessSpec
}

// Profile is a named population of processes per host.
type Profile struct {
	Name        string
	Description string
	Processes   []ProcessSpec
	Spike       *Spike
}

// PerHost is the number of processes a host runs outside bursts.
func (p *Profile) PerHost() int {
	n := 0
	for _, s := range p.Processes {
		n += s.Count
	}
	return n
}

// PeakPerHost is the most processes a host runs at once (during a burst).
func (p *Profile) PeakPerHost() int {
	n := p.PerHost()
	if p.Spike != nil {
		n *= p.Spike.MaxFactor
	}
	return n
}

// ChurnPerMinute is the number of processes a host starts per minute in
// steady state outside bursts: the sum over groups of count / mean lifetime.
// Each new process brings DatapointsPerProcess new series.
func (p *Profile) ChurnPerMinute() float64 {
	var n float64
	for _, s := range p.Processes {
		if s.Lifetime > 0 {
			n += float64(s.Count) * float64(time.Minute) / float64(s.Lifetime)
		}
	}
	return n
}

// Built-in profile names. Custom profiles come from YAML (ParseCustom).
const (
	ProfileRealistic       = "realistic"
	ProfileHighCardinality = "high-cardinality"
	ProfileProcessChurn    = "process-churn"
	ProfileSpike           = "spike"
	ProfileCustom          = "custom"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// base is what every Linux host runs: the long-lived system processes.
func base() []ProcessSpec {
	return []ProcessSpec{
		{Name: "systemd-journal", Path: "/usr/lib/systemd/systemd-journald", Command: "/usr/lib/systemd/systemd-journald", Owner: "root", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.005, RSS: 48 * mib, Threads: 1},
		{Name: "sshd", Path: "/usr/sbin/sshd", Command: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", Owner: "root", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.001, RSS: 8 * mib, Threads: 1},
		{Name: "cron", Path: "/usr/sbin/cron", Command: "/usr/sbin/cron -f -P", Owner: "root", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.0005, RSS: 3 * mib, Threads: 1},
		{Name: "containerd", Path: "/usr/bin/containerd", Command: "/usr/bin/containerd", Owner: "root", Count: 1, CPU: Spiky, Memory: Steady, Cores: 0.02, RSS: 60 * mib, Threads: 14},
		{Name: "node_exporter", Path: "/usr/local/bin/node_exporter", Command: "/usr/local/bin/node_exporter --collector.systemd", Owner: "prometheus", Count: 1, CPU: Spiky, Memory: Steady, Cores: 0.01, RSS: 22 * mib, Threads: 7},
	}
}

func realistic() *Profile {
	p := &Profile{
		Name:        ProfileRealistic,
		Description: "a web/database host: nginx, postgres, redis and two java services living for the whole run, browser tabs living minutes, cron jobs living about a minute",
	}
	p.Processes = append(base(),
		ProcessSpec{Name: "nginx", Path: "/usr/sbin/nginx", Command: "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", Owner: "root", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.001, RSS: 12 * mib, Threads: 1},
		ProcessSpec{Name: "nginx", Path: "/usr/sbin/nginx", Command: "nginx: worker process", Owner: "www-data", Parent: "nginx", Count: 4, CPU: Spiky, Memory: Steady, Cores: 0.05, RSS: 18 * mib, Threads: 1},
		ProcessSpec{Name: "postgres", Path: "/usr/lib/postgresql/16/bin/postgres", Command: "/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main -c config_file=/etc/postgresql/16/main/postgresql.conf", Owner: "postgres", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.01, RSS: 220 * mib, Threads: 1},
		ProcessSpec{Name: "postgres", Path: "/usr/lib/postgresql/16/bin/postgres", Command: "postgres: 16/main: checkpointer", Owner: "postgres", Parent: "postgres", Count: 1, CPU: Spiky, Memory: Steady, Cores: 0.005, RSS: 40 * mib, Threads: 1},
		ProcessSpec{Name: "postgres", Path: "/usr/lib/postgresql/16/bin/postgres", Command: "postgres: 16/main: orders orders 10.0.4.{i}(5{i}412) idle", Owner: "postgres", Parent: "postgres", Count: 6, CPU: Spiky, Memory: Growing, Cores: 0.03, RSS: 30 * mib, Threads: 1},
		ProcessSpec{Name: "redis-server", Path: "/usr/bin/redis-server", Command: "/usr/bin/redis-server 127.0.0.1:6379", Owner: "redis", Count: 1, CPU: Steady, Memory: Growing, Cores: 0.02, RSS: 90 * mib, Threads: 5},
		ProcessSpec{Name: "java", Path: "/usr/lib/jvm/java-21-openjdk-amd64/bin/java", Command: "/usr/lib/jvm/java-21-openjdk-amd64/bin/java -Xmx2g -jar /opt/orders/orders-service.jar", Owner: "app", Count: 1, CPU: Spiky, Memory: Growing, Cores: 0.4, RSS: 1400 * mib, Threads: 60},
		ProcessSpec{Name: "java", Path: "/usr/lib/jvm/java-21-openjdk-amd64/bin/java", Command: "/usr/lib/jvm/java-21-openjdk-amd64/bin/java -Xmx1g -jar /opt/billing/billing-service.jar", Owner: "app", Count: 1, CPU: Random, Memory: Steady, Cores: 0.2, RSS: 900 * mib, Threads: 45},
		ProcessSpec{Name: "chrome", Path: "/opt/google/chrome/chrome", Command: "/opt/google/chrome/chrome", Owner: "ubuntu", Count: 1, CPU: Spiky, Memory: Growing, Cores: 0.1, RSS: 350 * mib, Threads: 30},
		ProcessSpec{Name: "chrome", Path: "/opt/google/chrome/chrome", Command: "/opt/google/chrome/chrome --type=renderer --lang=en-US --renderer-client-id={n}{i}", Owner: "ubuntu", Parent: "chrome", Count: 6, Lifetime: 5 * time.Minute, CPU: Random, Memory: Growing, Cores: 0.05, RSS: 120 * mib, Threads: 18},
		ProcessSpec{Name: "logrotate", Path: "/usr/sbin/logrotate", Command: "/usr/sbin/logrotate /etc/logrotate.conf", Owner: "root", Parent: "cron", Count: 1, Lifetime: time.Minute, CPU: Spiky, Memory: Steady, Cores: 0.02, RSS: 4 * mib, Threads: 1},
		ProcessSpec{Name: "python3", Path: "/usr/bin/python3.12", Command: "/usr/bin/python3 /opt/jobs/nightly_report.py --since 1h", Owner: "app", Parent: "cron", Count: 1, Lifetime: time.Minute, CPU: Random, Memory: Growing, Cores: 0.3, RSS: 60 * mib, Threads: 2},
	)
	return p
}

// serviceWords name the high-cardinality profile's microservices.
var serviceWords = []string{
	"orders", "payments", "cart", "checkout", "catalog", "search", "pricing", "inventory", "shipping", "billing",
	"accounts", "auth", "profile", "reviews", "ratings", "recommend", "ads", "email", "sms", "push",
	"ledger", "invoices", "refunds", "fraud", "risk", "geo", "maps", "media", "thumbs", "upload",
	"export", "import", "audit", "events", "stream", "session", "gateway", "quota", "tenants", "flags",
}

// serviceRoles are the kinds of process each microservice runs.
var serviceRoles = []string{"api", "worker", "consumer", "grpc", "cache"}

// serviceName gives the {svc} template value for index i: 200 distinct
// names before they repeat with a numeric suffix.
func serviceName(i int) string {
	w := serviceWords[i%len(serviceWords)]
	r := serviceRoles[(i/len(serviceWords))%len(serviceRoles)]
	if round := i / (len(serviceWords) * len(serviceRoles)); round > 0 {
		return fmt.Sprintf("%s-%s-%d", w, r, round)
	}
	return w + "-" + r
}

func highCardinality() *Profile {
	p := &Profile{
		Name:        ProfileHighCardinality,
		Description: "a busy Kubernetes node: 200 microservices, 80 queue workers, 40 batch jobs and 60 container shims, with restarts",
	}
	p.Processes = append(base(),
		ProcessSpec{Name: "{svc}", Path: "/app/bin/{svc}", Command: "/app/bin/{svc} --config /etc/{svc}/config.yaml --port 80{i}", Owner: "app", Count: 200, Lifetime: 30 * time.Minute, CPU: Random, Memory: Growing, Cores: 0.05, RSS: 80 * mib, Threads: 12},
		ProcessSpec{Name: "python3", Path: "/usr/local/bin/python3.12", Command: "python3 -m celery -A tasks worker --hostname=worker-{i}@%h -Q queue-{i}", Owner: "app", Count: 80, Lifetime: 10 * time.Minute, CPU: Spiky, Memory: Growing, Cores: 0.1, RSS: 150 * mib, Threads: 4},
		ProcessSpec{Name: "node", Path: "/usr/local/bin/node", Command: "node /app/jobs/job-{i}.js --run {n}", Owner: "app", Count: 40, Lifetime: 2 * time.Minute, CPU: Random, Memory: Random, Cores: 0.2, RSS: 90 * mib, Threads: 11},
		ProcessSpec{Name: "containerd-shim", Path: "/usr/bin/containerd-shim-runc-v2", Command: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {i}{n}f3a9c0d2 -address /run/containerd/containerd.sock", Owner: "root", Parent: "containerd", Count: 60, Lifetime: 15 * time.Minute, CPU: Steady, Memory: Steady, Cores: 0.002, RSS: 10 * mib, Threads: 10},
	)
	return p
}

func processChurn() *Profile {
	p := &Profile{
		Name:        ProfileProcessChurn,
		Description: "a CI runner: a few long-lived daemons and 40 build/test processes that each live under two minutes",
	}
	p.Processes = append(base(),
		ProcessSpec{Name: "Runner.Listener", Path: "/opt/actions-runner/bin/Runner.Listener", Command: "/opt/actions-runner/bin/Runner.Listener run --startuptype service", Owner: "runner", Count: 1, CPU: Steady, Memory: Steady, Cores: 0.01, RSS: 90 * mib, Threads: 20},
		ProcessSpec{Name: "go", Path: "/usr/local/go/bin/go", Command: "go test -race ./pkg/{i}/...", Owner: "runner", Parent: "Runner.Listener", Count: 10, Lifetime: 80 * time.Second, CPU: Random, Memory: Growing, Cores: 0.8, RSS: 400 * mib, Threads: 16},
		ProcessSpec{Name: "compile", Path: "/usr/local/go/pkg/tool/linux_amd64/compile", Command: "/usr/local/go/pkg/tool/linux_amd64/compile -o /tmp/go-build{n}{i}/b001/_pkg_.a -p main", Owner: "runner", Parent: "go", Count: 12, Lifetime: 20 * time.Second, CPU: Spiky, Memory: Growing, Cores: 0.9, RSS: 200 * mib, Threads: 8},
		ProcessSpec{Name: "node", Path: "/usr/bin/node", Command: "node /home/runner/work/web/node_modules/.bin/jest --shard={i}/8", Owner: "runner", Parent: "Runner.Listener", Count: 8, Lifetime: 60 * time.Second, CPU: Random, Memory: Growing, Cores: 0.7, RSS: 500 * mib, Threads: 11},
		ProcessSpec{Name: "bash", Path: "/usr/bin/bash", Command: "/usr/bin/bash -e /home/runner/work/_temp/step-{n}{i}.sh", Owner: "runner", Parent: "Runner.Listener", Count: 10, Lifetime: 30 * time.Second, CPU: Steady, Memory: Steady, Cores: 0.01, RSS: 4 * mib, Threads: 1},
	)
	return p
}

func spike() *Profile {
	p := &Profile{
		Name:        ProfileSpike,
		Description: "a steady app host that bursts to 10x-100x its processes for one minute every ten minutes (first burst after one minute)",
	}
	p.Processes = append(base(),
		ProcessSpec{Name: "nginx", Path: "/usr/sbin/nginx", Command: "nginx: worker process", Owner: "www-data", Count: 4, CPU: Spiky, Memory: Steady, Cores: 0.05, RSS: 18 * mib, Threads: 1},
		ProcessSpec{Name: "gunicorn", Path: "/usr/local/bin/python3.12", Command: "/usr/local/bin/python3.12 /usr/local/bin/gunicorn app:wsgi --workers 6", Owner: "app", Count: 6, CPU: Random, Memory: Growing, Cores: 0.1, RSS: 120 * mib, Threads: 2},
	)
	p.Spike = &Spike{
		Every: 10 * time.Minute, Offset: time.Minute, Length: time.Minute, MinFactor: 10, MaxFactor: 100,
		Spec: ProcessSpec{Name: "ffmpeg", Path: "/usr/bin/ffmpeg", Command: "/usr/bin/ffmpeg -i /data/in/{n}-{i}.mov -c:v libx264 /data/out/{n}-{i}.mp4", Owner: "app", Parent: "gunicorn", CPU: Spiky, Memory: Growing, Cores: 0.9, RSS: 120 * mib, Threads: 9},
	}
	return p
}

// Builtin returns a fresh copy of the built-in profile name (not custom).
func Builtin(name string) (*Profile, error) {
	switch name {
	case ProfileRealistic:
		return realistic(), nil
	case ProfileHighCardinality:
		return highCardinality(), nil
	case ProfileProcessChurn:
		return processChurn(), nil
	case ProfileSpike:
		return spike(), nil
	case ProfileCustom:
		return nil, fmt.Errorf("profile %q needs a profile file (YAML of process patterns)", name)
	}
	return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
}

// ProfileInfo describes a profile for listings.
type ProfileInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PerHost     int    `json:"processes_per_host"`      // outside bursts
	PeakPerHost int    `json:"peak_processes_per_host"` // during bursts
	// ChurnPerMinute is new processes per minute per host outside bursts.
	ChurnPerMinute float64 `json:"new_processes_per_min_per_host"`
}

// ProfileNames lists every profile name, custom last.
func ProfileNames() []string {
	return []string{ProfileRealistic, ProfileHighCardinality, ProfileProcessChurn, ProfileSpike, ProfileCustom}
}

// Profiles describes every profile.
func Profiles() []ProfileInfo {
	var out []ProfileInfo
	for _, n := range ProfileNames() {
		if n == ProfileCustom {
			out = append(out, ProfileInfo{Name: n, Description: "process patterns from a YAML file (--profile-file): name template, count, lifetime, cpu and memory pattern"})
			continue
		}
		p, _ := Builtin(n)
		out = append(out, ProfileInfo{Name: n, Description: p.Description, PerHost: p.PerHost(), PeakPerHost: p.PeakPerHost(),
			ChurnPerMinute: math.Round(p.ChurnPerMinute()*10) / 10})
	}
	return out
}
