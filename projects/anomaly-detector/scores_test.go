package anomalydetector

import (
	"encoding/csv"
	"math"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/anomaly"
	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/anomaly-detector/internal/detect"
)

// spikeSeries reads testdata/anomalies/spike.csv (400 points of a noisy
// level near 100 with one spike to 182 at index 300, cut from the CLI's
// anomaly testdata) as active series (x100).
func spikeSeries(t *testing.T) []int64 {
	t.Helper()
	f, err := os.Open("testdata/anomalies/spike.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatalf("spike.csv %v: %v", r, err)
		}
		out = append(out, int64(math.Round(v*100)))
	}
	return out
}

const spikeAt = 300 // index of the spike in spike.csv

func (e *env) anomalies(p apiv1.Principal, q url.Values) (apiv1.List[apiv1.AnomalyPoint], int) {
	e.t.Helper()
	var l apiv1.List[apiv1.AnomalyPoint]
	err := e.call("listAnomalies", p, nil, q, &l)
	if err != nil {
		if st := statusOf(err); st != 0 {
			return l, st
		}
		e.t.Fatalf("listAnomalies: %v", err)
	}
	return l, 200
}

// TestListAnomalies feeds a real series with one spike and reads the
// detector's scores back through the API: ordering, the spike's score and
// label, filters, pagination, and team visibility.
func TestListAnomalies(t *testing.T) {
	e := newEnv(t, nil)
	series := spikeSeries(t)
	start := e.at
	e.breakdown(apiv1.CardinalityReport{Stream: "checkout", Team: "team-a", ActiveSeries: series[0]})
	e.feed("checkout", series...)
	end := func(i int) time.Time { return start.Add(time.Duration(i+1) * time.Minute) } // rollup i's end
	signals := len(AllSignals)

	all, st := e.anomalies(teamA, url.Values{"stream": {"checkout"}, "limit": {"500"}})
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	if got, want := len(all.Items), scoreHistory*signals; got != want || all.NextCursor != nil {
		t.Fatalf("got %d points (next %v), want the last %d rollups x %d signals = %d", got, all.NextCursor, scoreHistory, signals, want)
	}
	if got, want := all.Items[0].Time, end(len(series)-1); !got.Equal(want) {
		t.Fatalf("newest point at %s, want the last rollup's end %s", got, want)
	}
	if got, want := all.Items[len(all.Items)-1].Time, end(len(series)-scoreHistory); !got.Equal(want) {
		t.Fatalf("oldest point at %s, want %s", got, want)
	}
	var spike *apiv1.AnomalyPoint
	for i, p := range all.Items {
		if i > 0 && p.Time.After(all.Items[i-1].Time) {
			t.Fatalf("point %d at %s after point %d at %s: not newest first", i, p.Time, i-1, all.Items[i-1].Time)
		}
		if p.Stream != "checkout" || p.Score < 0 || p.Score > 1 || p.Threshold != anomaly.DefaultThreshold ||
			p.AboveThreshold != (p.Score >= p.Threshold) || (p.Labelled && !p.AboveThreshold) {
			t.Fatalf("inconsistent point %+v", p)
		}
		for _, c := range []float64{p.Components.RobustZ, p.Components.Seasonal, p.Components.CUSUM, p.Components.Forest} {
			if c < 0 || c > 1 {
				t.Fatalf("component out of [0,1]: %+v", p)
			}
		}
		if p.Signal == SignalActiveSeries && p.Time.Equal(end(spikeAt)) {
			spike = &all.Items[i]
		}
	}
	if spike == nil {
		t.Fatal("no active_series point for the spike's rollup")
	}
	if spike.Value != float64(series[spikeAt]) || !spike.AboveThreshold || !spike.Labelled {
		t.Fatalf("spike point %+v: want value %d, above threshold and labelled", *spike, series[spikeAt])
	}
	t.Logf("spike: score %.3f components %+v", spike.Score, spike.Components)

	// min_score keeps only points at or above it, the spike among them.
	high, _ := e.anomalies(teamA, url.Values{"stream": {"checkout"}, "min_score": {"0.5"}, "limit": {"500"}})
	if len(high.Items) == 0 || len(high.Items) >= len(all.Items) {
		t.Fatalf("min_score 0.5 kept %d of %d points", len(high.Items), len(all.Items))
	}
	found := false
	for _, p := range high.Items {
		if p.Score < 0.5 {
			t.Fatalf("min_score 0.5 returned %+v", p)
		}
		found = found || (p.Signal == SignalActiveSeries && p.Time.Equal(spike.Time))
	}
	if !found {
		t.Fatal("min_score 0.5 lost the spike")
	}

	// since keeps the rollups ending at or after it.
	since, _ := e.anomalies(teamA, url.Values{"stream": {"checkout"}, "since": {end(spikeAt).Format(time.RFC3339)}, "limit": {"500"}})
	if got, want := len(since.Items), (len(series)-spikeAt)*signals; got != want {
		t.Fatalf("since the spike: %d points, want %d", got, want)
	}

	// Pages of 70 walk the same points once each.
	var walked []apiv1.AnomalyPoint
	q := url.Values{"stream": {"checkout"}, "limit": {"70"}}
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("pagination does not end")
		}
		page, st := e.anomalies(teamA, q)
		if st != 200 {
			t.Fatalf("page %d: status %d", pages, st)
		}
		walked = append(walked, page.Items...)
		if page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
	}
	if len(walked) != len(all.Items) {
		t.Fatalf("pages walked %d points, want %d", len(walked), len(all.Items))
	}
	for i := range walked {
		if walked[i] != all.Items[i] {
			t.Fatalf("page point %d = %+v, want %+v", i, walked[i], all.Items[i])
		}
	}

	cases := []struct {
		name string
		p    apiv1.Principal
		q    url.Values
		want int
	}{
		{"admin sees every team", admin, url.Values{"stream": {"checkout"}}, 200},
		{"another team's stream", teamB, url.Values{"stream": {"checkout"}}, 404},
		{"unknown stream", teamA, url.Values{"stream": {"nope"}}, 404},
		{"no stream", teamA, url.Values{}, 400},
		{"bad stream", teamA, url.Values{"stream": {"a b"}}, 400},
		{"min_score above 1", teamA, url.Values{"stream": {"checkout"}, "min_score": {"2"}}, 400},
		{"min_score NaN", teamA, url.Values{"stream": {"checkout"}, "min_score": {"NaN"}}, 400},
		{"bad since", teamA, url.Values{"stream": {"checkout"}, "since": {"yesterday"}}, 400},
		{"bad cursor", teamA, url.Values{"stream": {"checkout"}, "cursor": {"1.nope"}}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, st := e.anomalies(c.p, c.q); st != c.want {
				t.Fatalf("status %d, want %d", st, c.want)
			}
		})
	}
}

func TestParseScoreQuerySince(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		since string
		want  time.Time
	}{
		{"", time.Time{}},
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-12-07T11:00:00Z", now.Add(-time.Hour)},
	}
	for _, c := range cases {
		q, err := parseScoreQuery(&apiv1.Request{Query: url.Values{"stream": {"s"}, "since": {c.since}}}, now)
		if err != nil || !q.since.Equal(c.want) {
			t.Errorf("since %q: %v, %v; want %v", c.since, q.since, err, c.want)
		}
	}
	for _, bad := range []string{"-1h", "0s", "tomorrow"} {
		if _, err := parseScoreQuery(&apiv1.Request{Query: url.Values{"stream": {"s"}, "since": {bad}}}, now); statusOf(err) != 400 {
			t.Errorf("since %q: %v, want 400", bad, err)
		}
	}
}

// TestScoreBookBounds: a ring per stream of scoreHistory rollups, at most
// max_series/signals streams, evicted streams forgotten.
func TestScoreBookBounds(t *testing.T) {
	sigs := []string{SignalActiveSeries, SignalDPPerS}
	b := newScoreBook(sigs, 4, 0) // room for 2 streams
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	obs := func(stream string, i int) detect.Observation {
		return detect.Observation{Stream: stream, Time: at.Add(time.Duration(i) * time.Minute),
			Values: map[string]float64{SignalActiveSeries: float64(i), SignalDPPerS: 1},
			Scores: map[string]float64{SignalActiveSeries: 0.1, SignalDPPerS: 0.2}}
	}
	for i := range 3 * scoreHistory {
		b.record(obs("a", i), "team-a")
	}
	pts, team, ok := b.points(scoreQuery{stream: "a"})
	if !ok || team != "team-a" || len(pts) != scoreHistory*len(sigs) {
		t.Fatalf("stream a: ok %v team %q, %d points; want %d", ok, team, len(pts), scoreHistory*len(sigs))
	}
	if newest, oldest := pts[0].Value, pts[len(pts)-len(sigs)].Value; newest != 3*scoreHistory-1 || oldest != 2*scoreHistory {
		t.Fatalf("ring kept %v..%v, want %d..%d", oldest, newest, 2*scoreHistory, 3*scoreHistory-1)
	}
	b.record(obs("b", 0), "")
	b.record(obs("c", 0), "team-c") // no room
	if n, dropped := b.size(); n != 2 || dropped != 1 {
		t.Fatalf("%d streams, %d dropped; want 2, 1", n, dropped)
	}
	if _, team, ok := b.points(scoreQuery{stream: "b"}); !ok || team != "" {
		t.Fatalf("stream b: ok %v team %q; want kept with no team yet", ok, team)
	}
	if _, _, ok := b.points(scoreQuery{stream: "c"}); ok {
		t.Fatal("stream c kept beyond the bound")
	}
	ev := obs("c", 1)
	ev.Evicted = "a"
	b.record(ev, "team-c")
	if _, _, ok := b.points(scoreQuery{stream: "a"}); ok {
		t.Fatal("evicted stream a still kept")
	}
	if pts, _, ok := b.points(scoreQuery{stream: "c", minScore: 0.15}); !ok || len(pts) != 1 || pts[0].Signal != SignalDPPerS {
		t.Fatalf("stream c min_score 0.15: ok %v %+v", ok, pts)
	}
}

// FuzzParseScoreQuery: any query is a query or a 400, never a panic, and
// an accepted min_score is in [0,1].
func FuzzParseScoreQuery(f *testing.F) {
	for _, s := range [][3]string{{"checkout", "1h", "0.5"}, {"", "2026-12-07T11:00:00Z", "1"}, {"a b", "-1h", "NaN"}, {"x--y", "0s", "1e-9"}} {
		f.Add(s[0], s[1], s[2])
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, stream, since, minScore string) {
		q, err := parseScoreQuery(&apiv1.Request{Query: url.Values{"stream": {stream}, "since": {since}, "min_score": {minScore}}}, now)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if q.stream == "" || q.minScore < 0 || q.minScore > 1 || math.IsNaN(q.minScore) {
			t.Fatalf("accepted %+v", q)
		}
	})
}
