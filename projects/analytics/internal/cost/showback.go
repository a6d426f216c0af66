package cost

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// Showback group labels (kinds in apiv1.Group*).
const (
	ValueOther        = "(other)"
	ValueUnset        = "(none)"
	ValueUnattributed = "(unattributed)"
)

// MaxShowbackTop bounds the label values listed one by one; the rest are
// folded into "(other)".
const MaxShowbackTop = 500

// DPSplitBasis says how a showback apportions datapoints and bytes.
const DPSplitBasis = "each metric's datapoint rate is shared equally among its active series; " +
	"bytes follow datapoints; series past the exact bound get what the stream measured beyond the attributed rate"

// Showback splits the priced stream rep (Report's answer for the stream's
// figures) by the label values of sp: the top values one by one, the rest
// as "(other)", series without the label as "(none)", and series past the
// exact bound as "(unattributed)". Every group's series, datapoints, bytes
// and cost add up to the stream's.
func (c *Catalog) Showback(rep apiv1.CostReport, sp cardinality.Split, top int) apiv1.Showback {
	top = max(1, min(top, MaxShowbackTop))
	sb := apiv1.Showback{Label: sp.Label, Exact: true, Top: top, DistinctValues: int64(len(sp.Values)),
		DPSplitBasis: DPSplitBasis, Groups: []apiv1.CostGroup{}}
	type group struct {
		value, kind string
		values      int64
		series      float64
		dp          float64
	}
	var groups []group
	for i, v := range sp.Values {
		if i < top {
			groups = append(groups, group{value: v.Value, kind: apiv1.GroupValue, values: 1, series: float64(v.Series), dp: v.DPPerS})
			continue
		}
		if i == top {
			groups = append(groups, group{value: ValueOther, kind: apiv1.GroupOther})
		}
		g := &groups[len(groups)-1]
		g.values++
		g.series += float64(v.Series)
		g.dp += v.DPPerS
	}
	if sp.Unset.Series > 0 {
		groups = append(groups, group{value: ValueUnset, kind: apiv1.GroupUnset, series: float64(sp.Unset.Series), dp: sp.Unset.DPPerS})
	}
	var reasons []string
	total := float64(sp.Tracked)
	if over := float64(int64(sp.Overflow + 0.5)); over > 0 {
		// The stream measured datapoints the exact series do not explain:
		// they belong to the sketched ones.
		var attributed float64
		for _, g := range groups {
			attributed += g.dp
		}
		dp := 0.0
		if rep.DPPerS != nil {
			dp = max(0, *rep.DPPerS-attributed)
		}
		groups = append(groups, group{value: ValueUnattributed, kind: apiv1.GroupUnattributed, series: over, dp: dp})
		total += over
		sb.Exact = false
		sb.ErrorBound = sp.OverflowRE * over / total
		reasons = append(reasons, fmt.Sprintf("%.0f active series (estimate, ±%.2f%%) are past the stream's exact bound and held only "+
			"in a sketch: their %s values are unknown, so they are shown as %s", over, sp.OverflowRE*100, sp.Label, ValueUnattributed))
	}
	if len(sp.Refused) > 0 {
		keys := slices.Sorted(maps.Keys(sp.Refused))
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, sp.Refused[k]))
		}
		sb.Exact = false
		reasons = append(reasons, "the tracker refused or sketched data of this stream ("+strings.Join(parts, ", ")+")")
	}
	sb.EstimatedReason = strings.Join(reasons, "; ")
	var dpSum float64
	for _, g := range groups {
		dpSum += g.dp
	}
	for _, g := range groups {
		out := apiv1.CostGroup{Value: g.value, Kind: g.kind, Values: g.values, Series: int64(g.series + 0.5), Models: []apiv1.ModelCost{}}
		seriesShare := 0.0
		if total > 0 {
			seriesShare = g.series / total
		}
		out.Share = seriesShare
		var dpShare *float64
		dpReason := ""
		switch {
		case !sp.DPKnown || rep.DPPerS == nil:
			dpReason = "the stream's datapoint rate is not measured yet"
		case dpSum <= 0:
			dpReason = "no metric of the stream has a measured datapoint rate"
		default:
			s := g.dp / dpSum
			dpShare = &s
			v := s * *rep.DPPerS
			out.DPPerS = &v
		}
		out.DPPerSUnknownReason = dpReason
		switch {
		case dpShare != nil && rep.BytesPerS != nil:
			v := *dpShare * *rep.BytesPerS
			out.BytesPerS = &v
		case rep.BytesPerS == nil:
			out.BytesPerSUnknownReason = "the stream's byte rate is not measured yet"
		default:
			out.BytesPerSUnknownReason = dpReason
		}
		for _, m := range rep.Models {
			mc := apiv1.ModelCost{Model: m.Model, Unit: m.Unit, Source: m.Source}
			switch {
			case m.MonthlyCost == nil:
				mc.MonthlyCostUnknownReason = m.MonthlyCostUnknownReason
			case m.Unit == UnitPerMillionDatapoints || m.Unit == UnitPerGBIngested:
				if dpShare == nil {
					mc.MonthlyCostUnknownReason = "this model bills by volume and " + dpReason
					break
				}
				v := *dpShare * *m.MonthlyCost
				mc.MonthlyCost = &v
			default: // billed by active series
				v := seriesShare * *m.MonthlyCost
				mc.MonthlyCost = &v
			}
			out.Models = append(out.Models, mc)
		}
		sb.Groups = append(sb.Groups, out)
	}
	return sb
}
