package detect

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// Cause names what exploded: the label of Metric whose distinct values
// grew most between two breakdowns of the stream.
type Cause struct {
	Metric, Label string
	apiv1.Attribution
}

// Attribute diffs two cardinality breakdowns of one stream. prev may be nil
// (no earlier breakdown): growth is then counted from zero. ok is false
// when no label grew.
func Attribute(prev *apiv1.CardinalityReport, cur apiv1.CardinalityReport) (Cause, bool) {
	type key struct{ metric, label string }
	oldValues := map[key]int64{}
	oldSeries := map[string]int64{}
	var oldActive int64
	if prev != nil {
		oldActive = prev.ActiveSeries
		for _, m := range prev.Metrics {
			oldSeries[m.Name] = m.Series
			for _, l := range m.Labels {
				oldValues[key{m.Name, l.Name}] = l.DistinctValues
			}
		}
	}
	var best Cause
	for _, m := range cur.Metrics {
		for _, l := range m.Labels {
			grew := l.DistinctValues - oldValues[key{m.Name, l.Name}]
			// Ties go to the metric that gained more series: the label
			// that split it is the cause, not one merely listed beside it.
			metricGrew := m.Series - oldSeries[m.Name]
			if grew > best.NewValues || (grew == best.NewValues && grew > 0 && metricGrew > best.MetricNewSeries) {
				best = Cause{Metric: m.Name, Label: l.Name, Attribution: apiv1.Attribution{NewValues: grew, MetricNewSeries: metricGrew}}
			}
		}
	}
	if best.NewValues <= 0 {
		return Cause{}, false
	}
	best.NewSeries = cur.ActiveSeries - oldActive
	if best.NewSeries > 0 {
		best.ShareOfNew = math.Min(1, math.Max(0, float64(best.MetricNewSeries)/float64(best.NewSeries)))
	}
	if prev != nil {
		best.Baseline = true
		best.WindowSeconds = cur.Time.Sub(prev.Time).Seconds()
	}
	return best, true
}

// Summary says it in one line: "label request_id on http.server.duration:
// +12,400 values in 5m0s, 91% of new series".
func (c Cause) Summary() string {
	s := fmt.Sprintf("label %s on %s: +%s values", c.Label, c.Metric, Thousands(c.NewValues))
	if c.Baseline && c.WindowSeconds > 0 {
		s += " in " + time.Duration(c.WindowSeconds*float64(time.Second)).Round(time.Second).String()
	}
	if c.NewSeries > 0 {
		s += fmt.Sprintf(", %.0f%% of new series", c.ShareOfNew*100)
	}
	return s
}

// Thousands formats n with comma separators.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
