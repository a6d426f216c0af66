package fidelity

import (
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// Entities lists what a stream received since a time: hosts that stopped
// sending before it are gone at once, not after the staleness window.
func TestEntitiesSince(t *testing.T) {
	clk := &clock{now: t0}
	tr := cardinality.New(cardinality.Limits{Staleness: 5 * time.Minute}, clk.Now)
	ingest(t, tr, "s", map[string]float64{"h1": 1, "h2": 2, "h3": 3})
	clk.now = t0.Add(30 * time.Second)
	ingest(t, tr, "s", map[string]float64{"h1": 1, "h3": 3}) // h2 went silent
	for _, tc := range []struct {
		name     string
		since    time.Time
		matchers []string
		keys     []string
		want     []string // per matcher, entities joined by |
	}{
		{"live window: every host", time.Time{}, []string{`host.name!=""`}, []string{"host.name"}, []string{"host.name=h1|host.name=h2|host.name=h3"}},
		{"since the second batch: h2 silent", t0.Add(20 * time.Second), []string{`host.name!=""`}, []string{"host.name"}, []string{"host.name=h1|host.name=h3"}},
		{"one matcher per host", t0.Add(20 * time.Second), []string{`host.name="h2"`, `host.name="h3"`}, []string{"host.name"}, []string{"", "host.name=h3"}},
		{"two keys", time.Time{}, []string{`zone=~"z[12]"`}, []string{"host.name", "zone"}, []string{"host.name=h1,zone=z1|host.name=h2,zone=z2"}},
		{"a batch in since's own second is not after it", t0.Add(30*time.Second + 500*time.Millisecond), []string{`host.name!=""`}, []string{"host.name"}, []string{""}},
		{"nothing since the future", t0.Add(time.Hour), []string{`host.name!=""`}, []string{"host.name"}, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn := tr.Stream("s").SnapshotSince(tc.since)
			res, err := Entities(sn, tc.matchers, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if got := strings.Join(r.Entities, "|"); got != tc.want[i] || r.Count != len(r.Entities) {
					t.Errorf("matcher %s: %q (count %d), want %q", r.Matcher, got, r.Count, tc.want[i])
				}
			}
		})
	}
	if _, err := Entities(nil, []string{`host.name=~"("`}, []string{"host.name"}); err == nil {
		t.Error("a malformed matcher was accepted")
	}
	res, err := Entities(nil, []string{`host.name!=""`}, []string{"host.name"})
	if err != nil || res[0].Count != 0 {
		t.Errorf("no data: %+v %v", res, err)
	}
}
