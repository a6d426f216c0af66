// Package loadgen generates synthetic host process metrics shaped exactly as
// the OpenTelemetry Collector's hostmetrics receiver (process scraper) plus
// the resourcedetection processor (system detector) emit them at collector
// contrib v0.160.0: one ResourceMetrics per process, resource attributes
// process.* plus host.name and os.type, and the process.* metrics with the
// scraper's names, units, types and temporality.
//
// A Simulation is a fleet of hosts running the processes of a Profile with
// lifecycles (long-lived servers, short-lived jobs, bursts). It is a pure
// function of its Config and the times it is scraped at: the same seed
// scraped at the same simulated times gives the same bytes. Run drives a
// Simulation on a Clock (injectable, so tests run instantly) and sends each
// scrape over OTLP (HTTP or gRPC) through an Exporter.
//
// Both projects/loadsim (the CLI and the server's API) and the dev loop in
// cmd/phoenix use this package, which is why it lives in pkg/.
package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// Shape constants, read from the upstream source at contrib v0.160.0:
// receiver/hostmetricsreceiver/internal/scraper/processscraper/internal/metadata
// (generated_status.go ScopeName, generated_metrics.go EmitForResource, which
// sets the schema URL of semconv v1.43.0).
const (
	ScopeName = "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/processscraper"
	// DefaultScopeVersion is the build version otelcol-contrib v0.160.0
	// reports; a collector distribution reports its own (phoenix-collector's).
	DefaultScopeVersion = "0.160.0"
	SchemaURL           = "https://opentelemetry.io/schemas/1.43.0"
)

// Defaults and bounds.
const (
	DefaultHostPrefix   = "loadsim-host-"
	DefaultMaxProcesses = 200000
	// linuxCommLen is TASK_COMM_LEN-1: /proc/<pid>/status Name, which the
	// scraper reports as process.executable.name, is cut to 15 bytes.
	linuxCommLen = 15
	pidMax       = 4194304 // /proc/sys/kernel/pid_max on 64-bit Linux
)

// Config describes a simulated fleet.
type Config struct {
	Profile      *Profile
	Hosts        int
	Seed         int64
	Start        time.Time // the simulated start; processes alive then were created before it
	HostPrefix   string    // host.name is HostPrefix + a 3-digit index; default DefaultHostPrefix
	ScopeVersion string    // default DefaultScopeVersion
	// DefaultMetricsOnly limits output to the metrics the scraper enables
	// by default (cpu.time, memory.usage, memory.virtual, disk.io); otherwise
	// process.threads and process.open_file_descriptors are emitted too, as
	// a collector with those two enabled does.
	DefaultMetricsOnly bool
	// MaxProcesses bounds hosts x peak processes per host; default DefaultMaxProcesses.
	MaxProcesses int
}

// Simulation is a fleet's state. It is not safe for concurrent use.
type Simulation struct {
	cfg     Config
	hosts   []*host
	metrics int // datapoints per process per scrape
	last    time.Time

	started int64 // processes started, including those alive at Start
}

type host struct {
	idx     int
	name    string
	seed    uint64
	rng     *rand.Rand // PID allocation
	nextPID int64
	groups  []*group
	burst   *group // the spike profile's current burst, nil outside bursts
	burstK  int64  // index of the burst in burst; -1 before the first
}

type group struct {
	spec   *ProcessSpec
	idx    int
	parent int // index into host.groups, -1 for PID 1
	slots  []*proc
}

type proc struct {
	gen        int
	rng        *rand.Rand
	pid        int64
	start, end time.Time // end is zero for a process living the whole run
	updated    time.Time

	name, path, command, cmdline, owner string

	// Fixed traits drawn at spawn.
	userShare, waitShare float64
	ioRate               float64 // bytes per second per core used
	writeShare           float64
	vmsFactor            float64

	// Cumulative counters and current gauges.
	cpuUser, cpuSys, cpuWait float64
	read, write              float64
	rss, vms                 int64
	threads, fds             int64
}

// New builds a simulation; processes are placed as they are at cfg.Start.
func New(cfg Config) (*Simulation, error) {
	if cfg.Profile == nil {
		return nil, errors.New("profile: required")
	}
	if cfg.Hosts < 1 {
		return nil, fmt.Errorf("hosts: must be at least 1, got %d", cfg.Hosts)
	}
	if cfg.HostPrefix == "" {
		cfg.HostPrefix = DefaultHostPrefix
	}
	if cfg.ScopeVersion == "" {
		cfg.ScopeVersion = DefaultScopeVersion
	}
	if cfg.MaxProcesses <= 0 {
		cfg.MaxProcesses = DefaultMaxProcesses
	}
	if cfg.Start.IsZero() {
		return nil, errors.New("start: required (the simulated start time)")
	}
	peak := cfg.Profile.PeakPerHost()
	if peak < 1 {
		return nil, fmt.Errorf("profile %s: no processes", cfg.Profile.Name)
	}
	if total := int64(peak) * int64(cfg.Hosts); total > int64(cfg.MaxProcesses) {
		return nil, fmt.Errorf("hosts: %d hosts x %d processes at peak (profile %s) = %d processes, over the limit of %d",
			cfg.Hosts, peak, cfg.Profile.Name, total, cfg.MaxProcesses)
	}
	s := &Simulation{cfg: cfg, metrics: 9, last: cfg.Start}
	if cfg.DefaultMetricsOnly {
		s.metrics = 7
	}
	for i := range cfg.Hosts {
		s.hosts = append(s.hosts, s.newHost(i))
	}
	return s, nil
}

// Config returns the simulation's configuration with defaults applied.
func (s *Simulation) Config() Config { return s.cfg }

// ProcessesStarted counts processes started so far, including those alive
// at the start.
func (s *Simulation) ProcessesStarted() int64 { return s.started }

// DatapointsPerProcess is how many datapoints each process contributes to a scrape.
func (s *Simulation) DatapointsPerProcess() int { return s.metrics }

// mix is SplitMix64: it spreads (seed, host, group, slot) into unrelated
// PCG seeds so every process has its own reproducible random stream.
func mix(vals ...uint64) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, v := range vals {
		h ^= v
		h += 0x9e3779b97f4a7c15
		z := h
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		h = z ^ (z >> 31)
	}
	return h
}

func newRand(vals ...uint64) *rand.Rand {
	return rand.New(rand.NewPCG(mix(vals...), mix(append(vals, 0xa5a5)...)))
}

func (s *Simulation) newHost(i int) *host {
	seed := mix(uint64(s.cfg.Seed), uint64(i))
	h := &host{idx: i, seed: seed, name: fmt.Sprintf("%s%03d", s.cfg.HostPrefix, i+1), rng: newRand(seed, 1), burstK: -1}
	h.nextPID = 300 + h.rng.Int64N(2000)
	for gi := range s.cfg.Profile.Processes {
		spec := &s.cfg.Profile.Processes[gi]
		g := &group{spec: spec, idx: gi, parent: -1}
		if spec.Parent != "" {
			for pi, other := range s.cfg.Profile.Processes {
				if pi != gi && other.Name == spec.Parent {
					g.parent = pi
					break
				}
			}
		}
		h.groups = append(h.groups, g)
	}
	// Spawn in group order so parents exist before their children.
	for _, g := range h.groups {
		for slot := range g.spec.Count {
			g.slots = append(g.slots, s.spawnInitial(h, g, slot))
		}
	}
	return h
}

func (h *host) allocPID() int64 {
	h.nextPID += 1 + h.rng.Int64N(8)
	if h.nextPID >= pidMax {
		h.nextPID = 300 + h.nextPID%pidMax
	}
	return h.nextPID
}

// spawnInitial places a process as it is at the simulation start: long-lived
// ones started hours to weeks ago; short-lived ones part-way through their
// lives, so exits are spread out from the first scrape on.
func (s *Simulation) spawnInitial(h *host, g *group, slot int) *proc {
	rng := newRand(h.seed, uint64(g.idx)+2, uint64(slot))
	p := &proc{rng: rng}
	start := s.cfg.Start
	if g.spec.Lifetime > 0 {
		life := jitterLife(rng, g.spec.Lifetime)
		age := time.Duration(rng.Int64N(int64(life)))
		p.start = start.Add(-age)
		p.end = p.start.Add(life)
	} else {
		p.start = start.Add(-(10*time.Minute + time.Duration(rng.Int64N(int64(30*24*time.Hour)))))
	}
	s.initProc(h, g, slot, p)
	// A process that has been running accumulated counters already.
	s.advance(g, p, start)
	return p
}

func jitterLife(rng *rand.Rand, mean time.Duration) time.Duration {
	d := time.Duration(float64(mean) * (0.5 + rng.Float64()))
	return max(d, time.Second)
}

func (s *Simulation) initProc(h *host, g *group, slot int, p *proc) {
	s.started++
	p.pid = h.allocPID()
	p.updated = p.start
	vars := func(tmpl string) string { return expand(tmpl, slot, p.gen) }
	p.name = truncComm(vars(g.spec.Name))
	p.path = vars(g.spec.Path)
	p.cmdline = vars(g.spec.Command)
	p.command = argv0(p.cmdline)
	p.owner = vars(g.spec.Owner)
	p.userShare = 0.6 + 0.3*p.rng.Float64()
	p.waitShare = 0.05 * p.rng.Float64()
	p.ioRate = float64(1<<20) * (0.2 + 2*p.rng.Float64())
	p.writeShare = 0.2 + 0.6*p.rng.Float64()
	p.vmsFactor = 2 + 4*p.rng.Float64()
	p.cpuUser, p.cpuSys, p.cpuWait, p.read, p.write = 0, 0, 0, 0, 0
	p.threads = int64(max(1, g.spec.Threads))
	p.fds = 3 + 2*p.threads + p.rng.Int64N(8)
	p.rss = pageAlign(float64(g.spec.RSS) * 0.5)
	p.vms = pageAlign(float64(p.rss) * p.vmsFactor)
}

// respawn replaces an exited process in its slot: a new PID (and command
// line, when the template uses {n}) starting when the old one exited.
func (s *Simulation) respawn(h *host, g *group, slot int, p *proc) {
	start := p.end
	p.gen++
	p.start = start
	p.end = start.Add(jitterLife(p.rng, g.spec.Lifetime))
	s.initProc(h, g, slot, p)
}

// maxExpanded bounds an expanded template, so placeholders cannot multiply
// a custom profile's memory.
const maxExpanded = 1024

// expand fills a name template.
func expand(tmpl string, slot, gen int) string {
	if !strings.Contains(tmpl, "{") {
		return truncUTF8(tmpl, maxExpanded)
	}
	r := strings.NewReplacer("{i}", strconv.Itoa(slot), "{n}", strconv.Itoa(gen), "{svc}", serviceName(slot))
	return truncUTF8(r.Replace(tmpl), maxExpanded)
}

// truncComm cuts a name as the kernel cuts /proc/<pid>/status Name (bytes),
// keeping the result valid UTF-8 as OTLP strings must be.
func truncComm(name string) string { return truncUTF8(name, linuxCommLen) }

func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// argv0 is process.command: the zeroth argument. Programs that rewrite their
// title (nginx, postgres, sshd: "nginx: worker process") put it all in argv[0].
func argv0(cmdline string) string {
	first, _, _ := strings.Cut(cmdline, " ")
	if strings.HasSuffix(first, ":") {
		return cmdline
	}
	return first
}

func pageAlign(v float64) int64 {
	const page = 4096
	n := int64(v) / page * page
	return max(n, page)
}

// level is a pattern's multiplier of a mean level at a process's age.
func level(pat Pattern, rng *rand.Rand, age time.Duration) float64 {
	switch pat {
	case Spiky:
		if rng.Float64() < 0.1 {
			return 5 + 5*rng.Float64()
		}
		return 0.3 + 0.4*rng.Float64()
	case Growing:
		return (0.5 + math.Min(age.Minutes()/30, 3.5)) * (0.97 + 0.06*rng.Float64())
	case Random:
		return 0.1 + 1.9*rng.Float64()
	default:
		return 0.95 + 0.1*rng.Float64()
	}
}

// advance moves a process's counters and gauges to time t.
func (s *Simulation) advance(g *group, p *proc, t time.Time) {
	dt := t.Sub(p.updated).Seconds()
	if dt <= 0 {
		return
	}
	age := t.Sub(p.start)
	cores := g.spec.Cores * level(g.spec.CPU, p.rng, age)
	cpu := cores * dt
	p.cpuUser += cpu * p.userShare
	p.cpuWait += cpu * p.waitShare
	p.cpuSys += cpu * (1 - p.userShare - p.waitShare)
	io := p.ioRate * cpu
	p.write += io * p.writeShare
	p.read += io * (1 - p.writeShare)
	p.rss = pageAlign(float64(g.spec.RSS) * level(g.spec.Memory, p.rng, age))
	p.vms = pageAlign(float64(p.rss) * p.vmsFactor)
	if g.spec.Threads > 1 {
		p.threads = int64(max(1, g.spec.Threads+p.rng.IntN(5)-2))
	}
	p.fds = max(3, p.fds+p.rng.Int64N(5)-2)
	p.updated = t
}

// Scrape advances the fleet to now and returns what one scrape of every
// host's process scraper would emit: one ResourceMetrics per live process.
// now must not go backwards. Large fleets should use ScrapeEach.
func (s *Simulation) Scrape(now time.Time) ([]*metricspb.ResourceMetrics, error) {
	var out []*metricspb.ResourceMetrics
	_, err := s.ScrapeEach(now, math.MaxInt, func(b []*metricspb.ResourceMetrics) error {
		out = append(out, b...)
		return nil
	})
	return out, err
}

// ScrapeEach is Scrape delivered in batches of at most n processes, each
// handed to fn as soon as it is built, so memory stays bounded by n rather
// than by the fleet. It returns the number of processes scraped. An error
// from fn stops the scrape (the processes not reached yet are not advanced
// this time) and is returned.
func (s *Simulation) ScrapeEach(now time.Time, n int, fn func([]*metricspb.ResourceMetrics) error) (int, error) {
	if now.Before(s.last) {
		return 0, fmt.Errorf("scrape at %s is before the previous scrape at %s", now.Format(time.RFC3339Nano), s.last.Format(time.RFC3339Nano))
	}
	if n < 1 {
		return 0, fmt.Errorf("batch size must be at least 1, got %d", n)
	}
	s.last = now
	e := &emitter{n: n, fn: fn}
	for _, h := range s.hosts {
		s.stepBurst(h, now)
		for _, g := range h.groups {
			if !s.scrapeGroup(h, g, now, e) {
				return e.total, e.err
			}
		}
		if h.burst != nil && !s.scrapeGroup(h, h.burst, now, e) {
			return e.total, e.err
		}
	}
	e.flush()
	return e.total, e.err
}

// emitter batches a scrape's output.
type emitter struct {
	n     int
	fn    func([]*metricspb.ResourceMetrics) error
	buf   []*metricspb.ResourceMetrics
	total int
	err   error
}

func (e *emitter) add(rm *metricspb.ResourceMetrics) bool {
	if e.buf == nil {
		e.buf = make([]*metricspb.ResourceMetrics, 0, min(e.n, 1024))
	}
	e.buf = append(e.buf, rm)
	e.total++
	if len(e.buf) >= e.n {
		e.flush()
	}
	return e.err == nil
}

func (e *emitter) flush() {
	if len(e.buf) == 0 || e.err != nil {
		return
	}
	// A fresh slice per batch: fn may keep the one it was given.
	b := e.buf
	e.buf = nil
	e.err = e.fn(b)
}

// scrapeGroup emits a group's live processes; false when the emitter failed.
func (s *Simulation) scrapeGroup(h *host, g *group, now time.Time, e *emitter) bool {
	for slot, p := range g.slots {
		if g != h.burst && g.spec.Lifetime > 0 {
			for !p.end.After(now) {
				s.respawn(h, g, slot, p)
			}
		}
		if p.start.After(now) || (!p.end.IsZero() && !p.end.After(now)) {
			continue
		}
		s.advance(g, p, now)
		ppid := int64(1)
		if g.parent >= 0 && len(h.groups[g.parent].slots) > 0 {
			ppid = h.groups[g.parent].slots[0].pid
		}
		if !e.add(s.resourceMetrics(h, p, ppid, now)) {
			return false
		}
	}
	return true
}

// stepBurst starts or ends the spike profile's burst on a host.
func (s *Simulation) stepBurst(h *host, now time.Time) {
	sp := s.cfg.Profile.Spike
	if sp == nil || sp.Every <= 0 {
		return
	}
	rel := now.Sub(s.cfg.Start) - sp.Offset
	if rel < 0 {
		return
	}
	k := int64(rel / sp.Every)
	inBurst := rel-time.Duration(k)*sp.Every < sp.Length
	if !inBurst {
		h.burst = nil
		return
	}
	if h.burst != nil && h.burstK == k {
		return
	}
	begin := s.cfg.Start.Add(sp.Offset + time.Duration(k)*sp.Every)
	rng := newRand(h.seed, 0xb0b0, uint64(k))
	factor := sp.MinFactor + rng.IntN(max(1, sp.MaxFactor-sp.MinFactor+1))
	n := s.cfg.Profile.PerHost() * (factor - 1)
	g := &group{spec: &sp.Spec, idx: -1, parent: -1}
	if sp.Spec.Parent != "" {
		for pi, other := range h.groups {
			if other.spec.Name == sp.Spec.Parent {
				g.parent = pi
				break
			}
		}
	}
	for slot := range n {
		p := &proc{rng: newRand(h.seed, 0xb0b1, uint64(k), uint64(slot)), gen: int(k)}
		// Burst processes start over the burst's first seconds and all end with it.
		p.start = begin.Add(time.Duration(p.rng.Int64N(int64(5 * time.Second))))
		p.end = begin.Add(sp.Length)
		s.initProc(h, g, slot, p)
		g.slots = append(g.slots, p)
	}
	h.burst, h.burstK = g, k
}
