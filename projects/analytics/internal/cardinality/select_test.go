package cardinality

import (
	"fmt"
	"slices"
	"testing"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlptest"
)

// TestSnapshotMetrics checks that the restricted snapshot holds exactly the
// named metrics' series of the full one, with the same labels and values.
func TestSnapshotMetrics(t *testing.T) {
	tr := New(Limits{}, nil)
	for _, body := range otlptest.ProcessFleet(0, 30, 100) {
		applyOTLP(t, tr, "s", body)
	}
	full := tr.Stream("s").Snapshot()
	render := func(sn *Snapshot, names []string) []string {
		var out []string
		for _, r := range sn.Series {
			name := sn.Metrics[r.Metric].Name
			if !slices.Contains(names, name) {
				continue
			}
			s := fmt.Sprintf("%s %v", name, r.Value)
			sn.EachLabel(r, func(res bool, k, v string) { s += fmt.Sprintf(" %v:%s=%s", res, k, v) })
			out = append(out, s)
		}
		slices.Sort(out)
		return out
	}
	for _, names := range [][]string{
		{"process.memory.usage"},
		{"process.cpu.time", "process.disk.io"},
		{"nope"},
		nil,
	} {
		sn := tr.Stream("s").SnapshotMetrics(names)
		got, want := render(sn, names), render(full, names)
		if !slices.Equal(got, want) || len(sn.Series) != len(want) {
			t.Errorf("%v: %d series, want %d", names, len(sn.Series), len(want))
		}
		if len(sn.Series) > 0 && len(sn.sets) >= len(full.sets) {
			t.Errorf("%v: %d label sets copied of %d", names, len(sn.sets), len(full.sets))
		}
	}
}
