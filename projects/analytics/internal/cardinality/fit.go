package cardinality

import (
	"encoding/json"
	"fmt"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
)

// markerBytes is room kept for the truncation marker and JSON punctuation.
const markerBytes = 512

// FitReport bounds rep's JSON encoding to maxBytes, so that a reply never
// exceeds the message bus's payload limit (NATS drops a bigger reply and
// the caller waits for its timeout). Metrics come sorted by series, most
// first: it keeps as many as fit, shrinking the last one's labels (one top
// value each, then fewer labels) when even that one alone is too big, and
// marks the reply Truncated with a reason. rep is not modified (it may be a
// cached report shared by callers).
func FitReport(rep apiv1.CardinalityReport, maxBytes int) apiv1.CardinalityReport {
	full, err := json.Marshal(rep)
	if err != nil || len(full) <= maxBytes {
		return rep
	}
	out := rep
	out.Metrics = []apiv1.MetricCardinality{}
	base, _ := json.Marshal(out)
	budget := maxBytes - len(base) - markerBytes
	shrunk := false
	for _, m := range rep.Metrics {
		size := jsonSize(m) + 1 // and a comma
		if size > budget {
			if m, size = shrinkMetric(m, budget); size <= budget {
				out.Metrics = append(out.Metrics, m)
				shrunk = true
			}
			break
		}
		out.Metrics = append(out.Metrics, m)
		budget -= size
	}
	out.Truncated = true
	out.TruncatedReason = fmt.Sprintf("the reply would be %d bytes, over the message bus limit of %d: %d of %d metrics are listed, those with the most series",
		len(full), maxBytes, len(out.Metrics), len(rep.Metrics))
	if shrunk {
		out.TruncatedReason += fmt.Sprintf("; %s lists fewer labels or top values", out.Metrics[len(out.Metrics)-1].Name)
	}
	return out
}

// shrinkMetric keeps one top value per label, then halves the labels until
// the metric fits budget; it returns the metric and its encoded size.
func shrinkMetric(m apiv1.MetricCardinality, budget int) (apiv1.MetricCardinality, int) {
	labels := make([]apiv1.LabelCardinality, len(m.Labels))
	for i, l := range m.Labels {
		l.TopValues = l.TopValues[:min(1, len(l.TopValues))]
		labels[i] = l
	}
	m.Labels = labels
	size := jsonSize(m) + 1
	for size > budget && len(m.Labels) > 0 {
		m.Labels = m.Labels[:len(m.Labels)/2]
		size = jsonSize(m) + 1
	}
	return m, size
}

func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}
