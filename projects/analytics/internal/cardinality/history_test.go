package cardinality

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestReplayTopK replays synthetic rank histories (cumulative CPU seconds
// per entity, one sample every 10 s, one group) and checks the exact set of
// entities kept at some sample.
func TestReplayTopK(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def := topkParams{window: time.Minute, hysteresis: 30 * time.Second, decay: 0.5}
	cases := []struct {
		name  string
		k     int
		p     topkParams
		fresh bool
		from  int // first sample counted in the union
		// values per entity per sample; -1 = no data in that sample
		values map[string][]float64
		want   []string
	}{
		{
			name: "stable ranks keep the top k", k: 2, p: def, fresh: true,
			values: map[string][]float64{"a": {0, 30, 60, 90}, "b": {0, 20, 40, 60}, "c": {0, 10, 20, 30}},
			want:   []string{"a", "b"},
		},
		{
			// Ranked on every sample in the first window: b's spike at the
			// last sample takes a's place, and a stays kept (hysteresis).
			name: "a spike in the first window joins the union", k: 1, p: def, fresh: true,
			values: map[string][]float64{"a": {0, 10, 20, 30}, "b": {0, 1, 2, 50}},
			want:   []string{"a", "b"},
		},
		{
			// Established groups are ranked once per window: the spike falls
			// between two ranks.
			name: "a spike between two ranks is missed", k: 1, p: def, fresh: false,
			values: map[string][]float64{"a": {0, 10, 20, 30, 40, 50}, "b": {0, 1, 2, 50, 51, 52}},
			want:   []string{"a"},
		},
		{
			// With a 10 s window, no decay and no hysteresis, a (peak 5/s at
			// the first rank, which decays nothing) leaves as soon as b's
			// 9.9/s beats it; counting from that sample, the union is b.
			name: "leavers drop out after the hysteresis", k: 1,
			p:      topkParams{window: 10 * time.Second, decay: 0},
			values: map[string][]float64{"a": {0, 50, 51, 52, 53}, "b": {0, 1, 100, 200, 300}},
			from:   2, want: []string{"b"},
		},
		{
			// a's counter restarts: its rate is what accrued since (5/10 s),
			// not a negative one, so b (0.4/s) is never in the top 1.
			name: "a counter reset counts from the new start", k: 1,
			p:      topkParams{window: 10 * time.Second, decay: 0},
			values: map[string][]float64{"a": {100, 110, 5, 10}, "b": {0, 4, 8, 12}},
			want:   []string{"a"},
		},
		{
			// c starts at the third sample with 30 s of CPU in 10 s: it ranks
			// first at once; a and b stay through the hysteresis.
			name: "a new entity ranks by its first interval", k: 2, p: def, fresh: true,
			values: map[string][]float64{"a": {0, 10, 20, 30}, "b": {0, 5, 10, 15}, "c": {-1, -1, 30, 60}},
			want:   []string{"a", "b", "c"},
		},
		{
			name: "k zero keeps nothing on rank", k: 0, p: def, fresh: true,
			values: map[string][]float64{"a": {0, 10}, "b": {0, 5}},
			want:   []string{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids := map[entity]string{}
			n := 0
			for name, vs := range c.values {
				ids[entity{group: 1, entity: uint64(len(ids) + 1)}] = name
				n = max(n, len(vs))
			}
			obs := make([]rankObs, n)
			for i := range obs {
				obs[i] = rankObs{at: t0.Add(time.Duration(i) * 10 * time.Second), sums: map[entity]float64{}}
				for id, name := range ids {
					if v := c.values[name][i]; v >= 0 {
						obs[i].sums[id] = v
					}
				}
			}
			kept := replayTopK(obs, c.k, c.p, c.fresh, obs[c.from].at)
			got := []string{}
			for id := range kept {
				got = append(got, ids[id])
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("kept %v, want %v", got, c.want)
			}
		})
	}
}

// cpuScrape is one scrape of a host's processes: process.cpu.time (the
// rank metric, cumulative) and process.memory.usage per process.
func cpuScrape(host string, cpu map[string]float64) []byte {
	var rms []*metricspb.ResourceMetrics
	for _, exe := range slices.Sorted(maps.Keys(cpu)) {
		rms = append(rms, otlptest.RM(otlptest.ProcessResource(host, exe, len(exe)),
			otlptest.Sum("process.cpu.time", cpu[exe], nil), otlptest.Gauge("process.memory.usage", 1, nil)))
	}
	return otlptest.Marshal(otlptest.Request(rms...))
}

// TestRankHistoryEstimate feeds a tracker scrapes in which the busiest
// process changes, samples the history after each, and checks the top-K
// estimate: first the snapshot fallback, then the union over the history.
func TestRankHistoryEstimate(t *testing.T) {
	clk := newClock()
	tr := New(Limits{}, clk.now)
	h := NewRankHistory(HistoryLimits{})
	tk := &apiv1.TopKEstimate{EntityKeys: []string{"process.executable.name", "process.pid"}, GroupBy: []string{"host.name"}, K: 1}
	// Every resource attribute but the top-K keys goes, as the e2e does.
	req := apiv1.EstimateRequest{Stream: apiv1.DefaultStream, TopK: tk, DropLabels: []string{"process.command_line"}}
	scrapes := []map[string]float64{
		{"web": 100, "db": 10, "cron": 1},
		{"web": 110, "db": 15, "cron": 2},   // web 1/s, db 0.5/s, cron 0.1/s: web ranks first
		{"web": 111, "db": 16, "cron": 100}, // cron spikes (9.8/s)
		{"web": 112, "db": 17, "cron": 101},
	}
	for i, cpu := range scrapes {
		applyOTLP(t, tr, "", cpuScrape("h1", cpu))
		h.Sample(clk.now(), tr.Streams())
		sn := tr.Stream(apiv1.DefaultStream).Snapshot()
		rep, err := h.Estimate(sn, req)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		switch i {
		case 0:
			// Snapshot fallback: web has the highest CPU value; db and cron
			// fold into _other_: 2 entities x 2 metrics.
			want = 4
			if rep.TopKBasis != apiv1.TopKBasisSnapshot || rep.Exact || rep.InexactReason == "" {
				t.Errorf("scrape %d: %+v, want the snapshot basis, inexact with a reason", i, rep)
			}
		case 1, 2:
			// web then cron rank first; web stays by hysteresis. At scrape
			// 1 (no spike yet): web + _other_; at 2: web, cron, _other_.
			want = map[int]int64{1: 4, 2: 6}[i]
		case 3:
			want = 6
		}
		if i > 0 && (rep.TopKBasis != apiv1.TopKBasisHistory || !rep.Exact) {
			t.Errorf("scrape %d: %+v, want the history basis", i, rep)
		}
		if rep.SeriesBefore != 6 || rep.SeriesAfter != want {
			t.Errorf("scrape %d: %d -> %d series, want 6 -> %d", i, rep.SeriesBefore, rep.SeriesAfter, want)
		}
		clk.add(10 * time.Second)
	}
	// A critical entity is kept whatever its rank.
	crit := *tk
	crit.Critical = "db"
	rep, err := h.Estimate(tr.Stream(apiv1.DefaultStream).Snapshot(), apiv1.EstimateRequest{TopK: &crit, DropLabels: []string{"process.command_line"}})
	if err != nil || rep.SeriesAfter != 6 {
		t.Errorf("critical db: %+v %v, want 6 series (web, cron, db)", rep, err)
	}
	for _, bad := range []apiv1.TopKEstimate{
		{EntityKeys: tk.EntityKeys, Window: "soon"},
		{EntityKeys: tk.EntityKeys, Window: "10ms"},
		{EntityKeys: tk.EntityKeys, Hysteresis: "-1s"},
		{EntityKeys: tk.EntityKeys, Critical: "("},
	} {
		if _, err := h.Estimate(tr.Stream(apiv1.DefaultStream).Snapshot(), apiv1.EstimateRequest{TopK: &bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestRankHistoryBounds checks the series bound refuses and counts, and
// that streams no longer listed are forgotten.
func TestRankHistoryBounds(t *testing.T) {
	clk := newClock()
	tr := New(Limits{}, clk.now)
	h := NewRankHistory(HistoryLimits{MaxSeries: 2, MaxSamples: 3})
	cpu := map[string]float64{}
	for i := range 5 {
		cpu[fmt.Sprintf("p%d", i)] = float64(i)
	}
	for range 5 {
		applyOTLP(t, tr, "", cpuScrape("h1", cpu))
		h.Sample(clk.now(), tr.Streams())
		clk.add(10 * time.Second)
	}
	if got := h.Refused()["rank_history_series"]; got != 3*5 {
		t.Errorf("refused %d series, want 15 (3 of 5 per sample)", got)
	}
	h.mu.Lock()
	sh := h.streams[apiv1.DefaultStream]
	if len(sh.samples) != 3 || len(sh.series) != 2 {
		t.Errorf("%d samples %d series, want 3 and 2", len(sh.samples), len(sh.series))
	}
	h.mu.Unlock()
	// A second stream gets what is left of the total bound (3 - 2 = 1).
	h.limits.MaxTotal = 3
	applyOTLP(t, tr, "second", cpuScrape("h2", cpu))
	h.Sample(clk.now(), tr.Streams())
	h.mu.Lock()
	if sh := h.streams["second"]; sh == nil || len(sh.series) != 1 {
		t.Errorf("second stream: %+v, want 1 series under the total bound", sh)
	}
	h.mu.Unlock()
	h.Sample(clk.now(), nil)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) != 0 {
		t.Errorf("%d streams kept after they went", len(h.streams))
	}
}
