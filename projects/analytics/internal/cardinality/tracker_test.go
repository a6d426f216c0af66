package cardinality

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	common "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/remotewrite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func applyOTLP(t *testing.T, tr *Tracker, header string, body []byte) Result {
	t.Helper()
	b := tr.Batch(header, "team-a")
	if err := otlpwire.Walk(body, b); err != nil {
		b.Discard()
		t.Fatalf("walk: %v", err)
	}
	return b.Done()
}

func applyRW(t *testing.T, tr *Tracker, header string, body []byte) {
	t.Helper()
	if _, _, err := remotewrite.Validate(body); err != nil {
		t.Fatalf("validate: %v", err)
	}
	b := tr.Batch(header, "team-a")
	b.RemoteWrite(len(body))
	remotewrite.Walk(body, b)
	b.Done()
}

var kv = otlptest.KV

func attrs(kvs ...*common.KeyValue) []*common.KeyValue { return kvs }

func report(t *testing.T, tr *Tracker, stream string) apiv1.CardinalityReport {
	t.Helper()
	s := tr.Stream(stream)
	if s == nil {
		t.Fatalf("stream %q not found", stream)
	}
	return s.Snapshot().Report(10)
}

func findMetric(t *testing.T, rep apiv1.CardinalityReport, name string) apiv1.MetricCardinality {
	t.Helper()
	for _, m := range rep.Metrics {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("metric %q not in report", name)
	return apiv1.MetricCardinality{}
}

func findLabel(t *testing.T, m apiv1.MetricCardinality, name, scope string) apiv1.LabelCardinality {
	t.Helper()
	for _, l := range m.Labels {
		if l.Name == name && l.Scope == scope {
			return l
		}
	}
	t.Fatalf("label %s/%s not in metric %s: %+v", scope, name, m.Name, m.Labels)
	return apiv1.LabelCardinality{}
}

func TestExactOTLP(t *testing.T) {
	c := newClock()
	tr := New(Limits{}, c.now)
	resA := attrs(kv("host.name", "h1"), kv("process.executable.name", "nginx"), kv("process.pid", "1"))
	resAReordered := attrs(kv("process.pid", "1"), kv("host.name", "h1"), kv("process.executable.name", "nginx"))
	resB := attrs(kv("host.name", "h1"), kv("process.executable.name", "nginx"), kv("process.pid", "2"))
	// Same labels as resA plus phoenix.* routing attributes that must not
	// change identity; but routing sends it to another stream.
	user, system := attrs(kv("state", "user")), attrs(kv("state", "system"))

	r1 := otlptest.Request(
		otlptest.RM(resA, otlptest.Sum("process.cpu.time", 1, user, system), otlptest.Gauge("process.memory.usage", 10, nil)),
		otlptest.RM(resB, otlptest.Sum("process.cpu.time", 2, user, system)),
	)
	// Duplicates and reorderings: nothing new.
	r2 := otlptest.Request(
		otlptest.RM(resAReordered, otlptest.Sum("process.cpu.time", 3, system, user, user)),
	)
	// Resource vs datapoint attribute: host.name as a datapoint attribute is
	// another series.
	r3 := otlptest.Request(
		otlptest.RM(attrs(kv("process.executable.name", "nginx"), kv("process.pid", "1")),
			otlptest.Gauge("process.memory.usage", 5, attrs(kv("host.name", "h1")))),
	)
	b1 := applyOTLP(t, tr, "", otlptest.Marshal(r1))
	if b1.Points != 5 || b1.Rejected != 0 {
		t.Fatalf("batch 1: points %d rejected %d", b1.Points, b1.Rejected)
	}
	applyOTLP(t, tr, "", otlptest.Marshal(r2))
	applyOTLP(t, tr, "", otlptest.Marshal(r3))

	rep := report(t, tr, apiv1.DefaultStream)
	if rep.ActiveSeries != 6 || !rep.Exact || rep.ErrorBound != 0 {
		t.Fatalf("active %d exact %v bound %v, want 6 exact", rep.ActiveSeries, rep.Exact, rep.ErrorBound)
	}
	if rep.Team != "team-a" {
		t.Errorf("team %q", rep.Team)
	}
	cpu := findMetric(t, rep, "process.cpu.time")
	if cpu.Series != 4 || cpu.Type != "sum" {
		t.Fatalf("cpu series %d type %s", cpu.Series, cpu.Type)
	}
	pid := findLabel(t, cpu, "process.pid", apiv1.ScopeResource)
	// Without pid, 4 series become 2 (user, system): share 0.5.
	if pid.DistinctValues != 2 || pid.Share != 0.5 {
		t.Errorf("pid: %+v", pid)
	}
	state := findLabel(t, cpu, "state", apiv1.ScopeDatapoint)
	if state.DistinctValues != 2 || state.Share != 0.5 || len(state.TopValues) != 2 || state.TopValues[0].Series != 2 {
		t.Errorf("state: %+v", state)
	}
	host := findLabel(t, cpu, "host.name", apiv1.ScopeResource)
	if host.DistinctValues != 1 || host.Share != 0 {
		t.Errorf("host: %+v", host)
	}
	mem := findMetric(t, rep, "process.memory.usage")
	if mem.Series != 2 {
		t.Fatalf("memory series %d, want 2", mem.Series)
	}
	findLabel(t, mem, "host.name", apiv1.ScopeDatapoint)
	findLabel(t, mem, "host.name", apiv1.ScopeResource)
	if rep.NewSeriesPerMin == nil || *rep.NewSeriesPerMin != 6 {
		t.Errorf("new series per min %v, want 6", rep.NewSeriesPerMin)
	}
	if rep.DPPerS != nil || rep.DPPerSUnknownReason == "" {
		t.Errorf("dp/s should be unknown before an interval completes: %v %q", rep.DPPerS, rep.DPPerSUnknownReason)
	}

	// Churn: a minute later the new-series window is empty; after the
	// staleness window every series is gone, and fresh ones count as new.
	c.add(70 * time.Second)
	rep = report(t, tr, apiv1.DefaultStream)
	if *rep.NewSeriesPerMin != 0 {
		t.Errorf("new series after a minute: %v", *rep.NewSeriesPerMin)
	}
	if rep.DPPerS == nil {
		t.Fatalf("dp/s unknown after 70 s: %s", rep.DPPerSUnknownReason)
	}
	c.add(5 * time.Minute)
	if n := tr.Stream(apiv1.DefaultStream).Sweep(c.now()); n != 6 {
		t.Errorf("swept %d, want 6", n)
	}
	applyOTLP(t, tr, "", otlptest.Marshal(otlptest.Request(otlptest.RM(resB, otlptest.Sum("process.cpu.time", 2, user)))))
	rep = report(t, tr, apiv1.DefaultStream)
	if rep.ActiveSeries != 1 || *rep.NewSeriesPerMin != 1 {
		t.Errorf("after churn: active %d new %v", rep.ActiveSeries, *rep.NewSeriesPerMin)
	}
	if tr.TotalSeries() != 1 {
		t.Errorf("total series %d", tr.TotalSeries())
	}
}

func TestStreamRouting(t *testing.T) {
	tr := New(Limits{MaxStreams: 3}, newClock().now)
	exp := attrs(kv("host.name", "h1"), kv("phoenix.experiment.id", "exp1"), kv("phoenix.variant", "candidate"))
	plain := attrs(kv("host.name", "h1"))
	req := otlptest.Marshal(otlptest.Request(
		otlptest.RM(exp, otlptest.Gauge("g", 1, nil)),
		otlptest.RM(plain, otlptest.Gauge("g", 1, nil)),
	))
	applyOTLP(t, tr, "edge", req)
	for _, s := range []string{"exp1--candidate", "edge"} {
		if rep := report(t, tr, s); rep.ActiveSeries != 1 {
			t.Errorf("stream %s: %d series", s, rep.ActiveSeries)
		}
	}
	// phoenix.* attributes do not change identity: the same series in two
	// streams hash alike.
	a := tr.Stream("exp1--candidate").Snapshot()
	b := tr.Stream("edge").Snapshot()
	if a.Sum(a.Series[0]) != b.Sum(b.Series[0]) {
		t.Error("phoenix.* attributes changed the series identity")
	}
	// Third stream allowed, fourth refused with the points counted.
	applyOTLP(t, tr, "", req) // exp1--candidate + default
	res := applyOTLP(t, tr, "other", req)
	if res.Rejected != 1 || res.Reason != RefusedStreamLimit {
		t.Errorf("rejected %d reason %q", res.Rejected, res.Reason)
	}
}

func TestExactBoundSketches(t *testing.T) {
	tr := New(Limits{ExactSeriesPerStream: 1000}, newClock().now)
	for _, body := range otlptest.ProcessFleet(0, 1000, 1000) { // 10k series
		applyOTLP(t, tr, "", body)
	}
	rep := report(t, tr, apiv1.DefaultStream)
	if rep.Exact || rep.TrackedSeries != 1000 {
		t.Fatalf("exact %v tracked %d", rep.Exact, rep.TrackedSeries)
	}
	if rep.ActiveSeries < 9500 || rep.ActiveSeries > 10500 {
		t.Errorf("estimate %d, want 10000 within 5%%", rep.ActiveSeries)
	}
	if rep.ErrorBound <= 0 || rep.ErrorBound > 0.01 {
		t.Errorf("error bound %v", rep.ErrorBound)
	}
}

func TestRemoteWriteExact(t *testing.T) {
	tr := New(Limits{}, newClock().now)
	body := otlptest.RemoteWrite(
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}, {"instance", "x"}}, Samples: []float64{1, 1}},
		otlptest.RWSeries{Labels: [][2]string{{"instance", "x"}, {"job", "a"}, {"__name__", "up"}}, Samples: []float64{1}},
		otlptest.RWSeries{Labels: [][2]string{{"__name__", "up"}, {"job", "a"}, {"instance", "y"}}, Samples: []float64{0}},
	)
	applyRW(t, tr, "prom", body)
	rep := report(t, tr, "prom")
	if rep.ActiveSeries != 2 {
		t.Fatalf("active %d", rep.ActiveSeries)
	}
	up := findMetric(t, rep, "up")
	if l := findLabel(t, up, "instance", apiv1.ScopeDatapoint); l.DistinctValues != 2 || l.Share != 0.5 {
		t.Errorf("instance %+v", l)
	}
}

// Past the label-name and label-set bounds, series are sketched and the
// refusal is counted: nothing grows without bound, nothing is dropped silently.
func TestLabelBounds(t *testing.T) {
	for name, l := range map[string]Limits{
		"keys": {MaxLabelKeysPerStream: 3},
		"sets": {MaxLabelSetsPerStream: 50},
	} {
		tr := New(l, newClock().now)
		for _, body := range otlptest.ProcessFleet(0, 100, 1000) { // 4 resource keys, 100 resources
			applyOTLP(t, tr, "", body)
		}
		rep := report(t, tr, apiv1.DefaultStream)
		if rep.Exact || rep.Refused[SketchedLabelSets] == 0 {
			t.Errorf("%s: exact %v refused %v", name, rep.Exact, rep.Refused)
		}
		if rep.ActiveSeries < 950 || rep.ActiveSeries > 1050 {
			t.Errorf("%s: estimate %d, want about 1000", name, rep.ActiveSeries)
		}
	}
}

// streamIDRef is the stream id grammar as a regular expression: the
// reference ValidStream's hand-written check is fuzzed against.
var streamIDRef = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$|^[A-Za-z0-9_-]{1,64}--[A-Za-z0-9_-]{1,64}$`)

func TestValidStream(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"default", true}, {"exp-1--baseline", true}, {"a--b--c", true}, {long, true},
		{long + "--" + long, true}, {"--", true}, {"a--", true}, {"", false}, {long + "a", false},
		{long + "a--b", false}, {"a b", false}, {"é", false}, {"a/b", false},
	} {
		if got := ValidStream(tt.id); got != tt.want {
			t.Errorf("ValidStream(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func FuzzValidStream(f *testing.F) {
	for _, s := range []string{"default", "exp--cand", "a--b--c", "x y", "--", strings.Repeat("z", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidStream(id), streamIDRef.MatchString(id); got != want {
			t.Fatalf("ValidStream(%q) = %v, the grammar says %v", id, got, want)
		}
	})
}
