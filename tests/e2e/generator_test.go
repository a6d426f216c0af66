package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/app"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/loadgen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
	"github.com/phoenix-platform/phoenix/projects/analytics"
	"github.com/phoenix-platform/phoenix/projects/generator"
)

// identityLabels are what the "nopid" candidate aggregates away.
var identityLabels = strings.Split(pipelinegen.DefaultIdentityLabels, ",")

// TestGeneratorExperimentThroughCollector runs the loop the generator
// exists for: the generator (over NATS, as the gateway calls it) builds an
// experiment config; the real phoenix-collector runs it; a seeded synthetic
// fleet of hostmetrics-shaped processes with churn goes in; analytics
// counts each variant's series. Then:
//   - baseline and the cap variant match the series computed from the input;
//   - analytics' estimates for the three rules (drop the identity labels,
//     top-K with K=10, a cap of 1000 per metric), computed on the baseline
//     stream, are within 5% of the series measured in the candidate streams.
func TestGeneratorExperimentThroughCollector(t *testing.T) {
	realistic, err := loadgen.Builtin(loadgen.ProfileRealistic)
	if err != nil {
		t.Fatal(err)
	}
	stable, err := loadgen.ParseCustom([]byte(stableRanksProfile))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("realistic", func(t *testing.T) { runExperiment(t, realistic) })
	t.Run("stable-ranks", func(t *testing.T) { runExperiment(t, stable) })
}

// stableRanksProfile: a dozen long-lived services whose CPU use differs by
// factors of two (so the top 10 never changes), idle workers, and
// short-lived jobs that come and go every few scrapes (churn).
const stableRanksProfile = `
name: stable-ranks
processes:
  - {name: svc-a, count: 1, cpu: steady, memory: steady, cores: 3.2}
  - {name: svc-b, count: 1, cpu: steady, memory: steady, cores: 1.6}
  - {name: svc-c, count: 1, cpu: steady, memory: steady, cores: 0.8}
  - {name: svc-d, count: 1, cpu: steady, memory: steady, cores: 0.4}
  - {name: svc-e, count: 1, cpu: steady, memory: steady, cores: 0.2}
  - {name: svc-f, count: 1, cpu: steady, memory: steady, cores: 0.1}
  - {name: svc-g, count: 1, cpu: steady, memory: steady, cores: 0.05}
  - {name: svc-h, count: 1, cpu: steady, memory: steady, cores: 0.025}
  - {name: svc-i, count: 1, cpu: steady, memory: steady, cores: 0.0125}
  - {name: svc-j, count: 1, cpu: steady, memory: steady, cores: 0.00625}
  - {name: svc-k, count: 1, cpu: steady, memory: steady, cores: 0.0015}
  - {name: svc-l, count: 1, cpu: steady, memory: steady, cores: 0.0007}
  - {name: worker, count: 10, cpu: steady, memory: steady, cores: 0.0003}
  - {name: "job-{n}", count: 6, lifetime: 30s, cpu: steady, memory: steady, cores: 0.0001}
`

// runExperiment feeds one profile through a generated experiment config.
// The top-K estimate must be within 5% whether or not the kept set changes
// during the run: analytics replays phoenix_topk's ranking over its rank
// history (one sample per rollup tick).
func runExperiment(t *testing.T, prof *loadgen.Profile) {
	bin := collectortest.Bin(t)
	ctx := context.Background()
	cfg := newConfig(t, config.ServiceAnalytics, config.ServiceGenerator)
	cfg.Auth.IngestOpen = true
	generator.ConfigFrom(cfg).CollectorBin = bin
	// The top-K estimate replays phoenix_topk over analytics' rank history,
	// sampled on the rollup tick: sample as often as the feed sends a scrape
	// (once a second below), as production's 10 s tick does for 10 s scrapes.
	analytics.ConfigFrom(cfg).RollupInterval = time.Second
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.Start(ctx, cfg, logger, []service.Registration{
		analytics.Registration(), generator.Registration(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	bus := a.Settings.Bus

	// 1. The generator builds the experiment config.
	recvHTTP, recvGRPC, telemetry := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	const expID = "gen-e2e"
	genReq := pipelinegen.Request{
		Source:        pipelinegen.Source{Kind: pipelinegen.SourceOTLP, HTTPEndpoint: recvHTTP, GRPCEndpoint: recvGRPC},
		TelemetryAddr: telemetry,
		Target: pipelinegen.Target{
			Kind: pipelinegen.TargetExperiment, ExperimentID: expID, IngestEndpoint: "http://" + cfg.Analytics.OTLPHTTPAddr,
			Candidates: []pipelinegen.Variant{
				{Name: "nopid", Strategies: []pipelinegen.Strategy{{Type: pipelinegen.Aggregate, Labels: identityLabels, Interval: "1s"}}},
				{Name: "topk10", Strategies: []pipelinegen.Strategy{{Type: pipelinegen.TopK, K: 10, Window: "60s", Hysteresis: "30s", GroupBy: []string{"host.name"}, EntityKeys: []string{"process.executable.name", "process.pid"}}}},
				{Name: "cap1000", Strategies: []pipelinegen.Strategy{{Type: pipelinegen.CardinalityCap, Limit: 1000, Action: "fold"}}},
			},
		},
	}
	body, _ := json.Marshal(genReq)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, raw, err := bus.RequestRaw(rctx, apiv1.Subject(config.ServiceGenerator, "generatePipeline"), apiv1.Request{Principal: admin, Body: body})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	var gen struct {
		Config    string `json:"config"`
		Validated *bool  `json:"validated"`
	}
	if err := json.Unmarshal(raw, &gen); err != nil || gen.Validated == nil || !*gen.Validated {
		t.Fatalf("generate answer: %v %s", err, raw)
	}

	// 2. The real collector runs it.
	cfgFile := filepath.Join(t.TempDir(), "experiment.yaml")
	if err := os.WriteFile(cfgFile, []byte(gen.Config), 0o600); err != nil {
		t.Fatal(err)
	}
	var colOut strings.Builder
	cmd := exec.Command(bin, "--config", cfgFile)
	cmd.Stdout, cmd.Stderr = &colOut, &colOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out := colOut.String()
			t.Logf("collector output:\n%s", out[max(0, len(out)-4000):])
		}
	})
	testutil.Eventually(t, 30*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", recvHTTP, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "collector OTLP receiver on %s", recvHTTP)

	// 3. A seeded fleet with churn: 20 hosts of the profile,
	// scraped every 10 simulated seconds, sent once a second.
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	sim, err := loadgen.New(loadgen.Config{Profile: prof, Hosts: 20, Seed: 20261128, Start: t0, DefaultMetricsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	target, err := loadgen.ParseTarget("http://"+recvHTTP, "")
	if err != nil {
		t.Fatal(err)
	}
	exporter, err := loadgen.NewExporter(target, loadgen.ExporterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exporter.Close() })
	want := newSeriesCounter()
	tick := time.NewTicker(time.Second) // pacing the feed, not waiting for a condition
	defer tick.Stop()
	const scrapes = 8
	for i := range scrapes {
		rms, err := sim.Scrape(t0.Add(time.Duration(i) * 10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want.add(rms)
		if _, err := exporter.Export(ctx, &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: rms}); err != nil {
			t.Fatalf("export scrape %d: %v", i, err)
		}
		if i < scrapes-1 {
			<-tick.C
		}
	}
	t.Logf("fed %d scrapes: %d processes started, %d series, %d without identity labels",
		scrapes, sim.ProcessesStarted(), want.total(), want.totalWithout(identityLabels))

	// 4. Analytics counts each variant's stream.
	stream := func(v string) string { return apiv1.VariantStream(expID, v) }
	card := func(s string) (*apiv1.CardinalityReport, bool) {
		var rep apiv1.CardinalityReport
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := bus.Request(c, apiv1.SubjectAnalyticsCardinality, apiv1.CardinalityRequest{Stream: s}, &rep); err != nil {
			return nil, false
		}
		return &rep, true
	}
	// The baseline is complete when it holds every input series; the
	// aggregate candidate flushes once a second.
	testutil.Eventually(t, 60*time.Second, func() bool {
		b, ok := card(stream(pipelinegen.BaselineVariant))
		n, ok2 := card(stream("nopid"))
		return ok && ok2 && b.ActiveSeries == want.total() && n.ActiveSeries >= want.totalWithout(identityLabels)
	}, "baseline %d series and nopid %d series in analytics", want.total(), want.totalWithout(identityLabels))
	// Give the other variants the same data: their batches left the
	// collector with the baseline's.
	var measured = map[string]int64{}
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, v := range []string{"nopid", "topk10", "cap1000"} {
			r, ok := card(stream(v))
			if !ok {
				return false
			}
			measured[v] = r.ActiveSeries
		}
		return measured["cap1000"] == want.capped(1000, true)
	}, "cap1000 stream with %d series", want.capped(1000, true))
	if measured["nopid"] != want.totalWithout(identityLabels) {
		t.Errorf("nopid stream has %d series, want %d (input without %v)", measured["nopid"], want.totalWithout(identityLabels), identityLabels)
	}

	// 5. Estimates on the baseline against what the candidates measured.
	estimate := func(req apiv1.EstimateRequest) int64 {
		req.Stream = stream(pipelinegen.BaselineVariant)
		var rep apiv1.EstimateReply
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := bus.Request(c, apiv1.SubjectAnalyticsEstimate, req, &rep); err != nil {
			t.Fatalf("estimate %+v: %v", req, err)
		}
		if req.TopK != nil {
			t.Logf("top-K estimate basis %q over %.0f s of rank history %s", rep.TopKBasis, rep.TopKHistorySeconds, rep.InexactReason)
			if rep.TopKBasis != apiv1.TopKBasisHistory {
				t.Errorf("top-K estimate basis %q, want %q: the rank history was not used", rep.TopKBasis, apiv1.TopKBasisHistory)
			}
		}
		return rep.SeriesAfter
	}
	// phoenix_topk's `_other_` keeps only group_by and the entity keys: the
	// other resource attributes go. Dropping them from every series leaves
	// kept entities distinct (their entity keys identify them) and merges
	// folded ones, as the processor does.
	var foldedAway []string
	if b, ok := card(stream(pipelinegen.BaselineVariant)); ok {
		seen := map[string]bool{}
		for _, m := range b.Metrics {
			for _, l := range m.Labels {
				if l.Scope == apiv1.ScopeResource && !seen[l.Name] && l.Name != "host.name" && l.Name != "process.executable.name" && l.Name != "process.pid" {
					seen[l.Name] = true
					foldedAway = append(foldedAway, l.Name)
				}
			}
		}
	}
	sort.Strings(foldedAway)
	t.Logf("top-K estimate drops %v", foldedAway)
	cases := []struct {
		variant string
		req     apiv1.EstimateRequest
	}{
		{"nopid", apiv1.EstimateRequest{DropLabels: identityLabels}},
		{"topk10", apiv1.EstimateRequest{DropLabels: foldedAway, TopK: &apiv1.TopKEstimate{EntityKeys: []string{"process.executable.name", "process.pid"}, GroupBy: []string{"host.name"}, K: 10, RankMetric: "process.cpu.time", Window: "60s", Hysteresis: "30s"}}},
		{"cap1000", apiv1.EstimateRequest{CapPerMetric: 1000}},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			est, got := estimate(c.req), measured[c.variant]
			relErr := math.Abs(float64(est-got)) / float64(got)
			t.Logf("%s: estimated %d series, measured %d (%.2f%%)", c.variant, est, got, relErr*100)
			if relErr <= 0.05 {
				return
			}
			t.Errorf("%s: estimate %d is %.1f%% off the measured %d series (limit 5%%)", c.variant, est, relErr*100, got)
		})
	}
	if measured["topk10"] >= want.total() {
		t.Errorf("top-K left %d of %d series", measured["topk10"], want.total())
	}

	// 6. The generator's recommendations for the baseline stream, with the
	// usage fixtures' dashboards and rules, price the same estimates.
	var files struct {
		Stream     string              `json:"stream"`
		Dashboards []map[string]string `json:"dashboards"`
		Rules      []map[string]string `json:"rules"`
	}
	files.Stream = stream(pipelinegen.BaselineVariant)
	for dir, dst := range map[string]*[]map[string]string{"dashboards": &files.Dashboards, "rules": &files.Rules} {
		paths, _ := filepath.Glob(filepath.Join(repoRoot(), "pkg", "usage", "testdata", dir, "*"))
		if len(paths) == 0 {
			t.Fatalf("no usage fixtures in pkg/usage/testdata/%s", dir)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			*dst = append(*dst, map[string]string{"name": filepath.Base(p), "content": string(b)})
		}
	}
	body, _ = json.Marshal(files)
	rctx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	_, raw, err = bus.RequestRaw(rctx2, apiv1.Subject(config.ServiceGenerator, "getRecommendations"), apiv1.Request{Principal: admin, Body: body})
	if err != nil {
		t.Fatalf("recommendations: %v", err)
	}
	var recs struct {
		Items []struct {
			ID                  string   `json:"id"`
			Kind                string   `json:"kind"`
			Labels              []string `json:"labels"`
			SeriesAfterEstimate *int64   `json:"series_after_estimate"`
		} `json:"items"`
		UnusedMetrics []string            `json:"unused_metrics"`
		Used          map[string][]string `json:"used"`
	}
	if err := json.Unmarshal(raw, &recs); err != nil {
		t.Fatal(err)
	}
	t.Logf("recommendations: %s", raw)
	if got := recs.Used["process.cpu.time"]; strings.Join(got, ",") != "host.name,process.executable.name" {
		t.Errorf("used labels of process.cpu.time = %v", got)
	}
	found := false
	for _, it := range recs.Items {
		if it.Kind == "aggregate" && strings.Join(it.Labels, ",") == strings.Join(sortedCopy(identityLabels), ",") {
			found = true
			if it.SeriesAfterEstimate == nil || math.Abs(float64(*it.SeriesAfterEstimate-measured["nopid"]))/float64(measured["nopid"]) > 0.05 {
				t.Errorf("identity recommendation estimates %v series, measured %d", it.SeriesAfterEstimate, measured["nopid"])
			}
		}
		for _, l := range it.Labels {
			if l == "process.executable.name" && it.Kind != "topk" {
				t.Errorf("%s drops process.executable.name, which the dashboards use", it.ID)
			}
		}
	}
	if !found {
		t.Errorf("no recommendation aggregates %v", identityLabels)
	}
	// Another team's caller learns nothing about the stream.
	outsider := apiv1.Principal{Subject: "mallory", Kind: "user", Role: "operator", Teams: []string{"team-z"}}
	_, _, err = bus.RequestRaw(rctx2, apiv1.Subject(config.ServiceGenerator, "getRecommendations"), apiv1.Request{Principal: outsider, Body: body})
	var prob *problem.Error
	if !errors.As(err, &prob) || prob.Status != http.StatusNotFound {
		t.Errorf("recommendations for another team's stream: %v, want 404", err)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// seriesCounter computes, from the OTLP that went in, the series a stream
// should hold: one per metric and distinct resource plus datapoint
// attributes.
type seriesCounter struct {
	series map[string]map[string][]kv // metric -> series key -> attributes
}

type kv struct{ k, v string }

func newSeriesCounter() *seriesCounter { return &seriesCounter{series: map[string]map[string][]kv{}} }

func attrString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	}
	return fmt.Sprint(v)
}

func (c *seriesCounter) add(rms []*metricspb.ResourceMetrics) {
	for _, rm := range rms {
		var res []kv
		for _, a := range rm.GetResource().GetAttributes() {
			res = append(res, kv{"r:" + a.Key, attrString(a.Value)})
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				var dps [][]*commonpb.KeyValue
				switch d := m.Data.(type) {
				case *metricspb.Metric_Sum:
					for _, p := range d.Sum.DataPoints {
						dps = append(dps, p.Attributes)
					}
				case *metricspb.Metric_Gauge:
					for _, p := range d.Gauge.DataPoints {
						dps = append(dps, p.Attributes)
					}
				}
				for _, dpa := range dps {
					attrs := append([]kv(nil), res...)
					for _, a := range dpa {
						attrs = append(attrs, kv{"d:" + a.Key, attrString(a.Value)})
					}
					if c.series[m.Name] == nil {
						c.series[m.Name] = map[string][]kv{}
					}
					c.series[m.Name][key(attrs, nil)] = attrs
				}
			}
		}
	}
}

func key(attrs []kv, drop map[string]bool) string {
	var parts []string
	for _, a := range attrs {
		if drop[a.k[2:]] {
			continue
		}
		parts = append(parts, a.k+"="+a.v)
	}
	sort.Strings(parts)
	return strings.Join(parts, "\x00")
}

func (c *seriesCounter) total() int64 {
	var n int64
	for _, s := range c.series {
		n += int64(len(s))
	}
	return n
}

func (c *seriesCounter) totalWithout(labels []string) int64 {
	drop := map[string]bool{}
	for _, l := range labels {
		drop[l] = true
	}
	var n int64
	for _, s := range c.series {
		seen := map[string]bool{}
		for _, attrs := range s {
			seen[key(attrs, drop)] = true
		}
		n += int64(len(seen))
	}
	return n
}

// capped is the series a per-metric cap leaves: the first limit series of
// each metric plus, when folding, one overflow series for a metric over it.
func (c *seriesCounter) capped(limit int, fold bool) int64 {
	var n int64
	for _, s := range c.series {
		if len(s) > limit {
			n += int64(limit)
			if fold {
				n++
			}
			continue
		}
		n += int64(len(s))
	}
	return n
}
