// Package remotewrite walks Prometheus remote write 1.0 requests
// (prometheus.WriteRequest, snappy-decoded) straight from their protobuf
// bytes, like otlpwire does for OTLP. Validate refuses the whole request
// when any series is invalid, so a 400 never hides a partial write.
package remotewrite

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/otlpwire"
)

// Field numbers of prompb (remote write 1.0).
const (
	fReqTimeseries = 1
	fReqMetadata   = 3

	fMetaType   = 1
	fMetaFamily = 2

	fTSLabels     = 1
	fTSSamples    = 2
	fTSHistograms = 4

	fLabelName  = 1
	fLabelValue = 2

	fSampleValue = 1
)

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid remote write request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Sink receives each series of a request.
type Sink interface {
	// Series gets the metric name, the identity hash of the other labels,
	// the last sample value, the TimeSeries message and its sample count.
	Series(name []byte, labelsHash uint64, value float64, ts []byte, samples int)
}

// Walk feeds a valid request to sink (call Validate first).
func Walk(req []byte, sink Sink) {
	each(req, fReqTimeseries, func(ts []byte) {
		var name []byte
		var sum uint64
		samples := 0
		value := math.NaN()
		for b := ts; len(b) > 0; {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return
			}
			b = b[n:]
			if typ != protowire.BytesType {
				m := protowire.ConsumeFieldValue(num, typ, b)
				if m < 0 {
					return
				}
				b = b[m:]
				continue
			}
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			b = b[m:]
			switch num {
			case fTSLabels:
				ln, lv := labelParts(v)
				if string(ln) == "__name__" {
					name = lv
					continue
				}
				sum += otlpwire.KVHash(v, false)
			case fTSSamples:
				samples++
				value = sampleValue(v)
			case fTSHistograms:
				samples++
			}
		}
		sink.Series(name, sum, value, ts, samples)
	})
}

func sampleValue(s []byte) float64 {
	v := math.NaN()
	for len(s) > 0 {
		num, typ, n := protowire.ConsumeTag(s)
		if n < 0 {
			return v
		}
		s = s[n:]
		if num == fSampleValue && typ == protowire.Fixed64Type {
			x, m := protowire.ConsumeFixed64(s)
			if m < 0 {
				return v
			}
			v = math.Float64frombits(x)
			s = s[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, s)
		if m < 0 {
			return v
		}
		s = s[m:]
	}
	return v
}

func each(b []byte, want protowire.Number, fn func(v []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if num == want && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			fn(v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
}

func labelParts(l []byte) (name, value []byte) {
	each(l, fLabelName, func(v []byte) { name = v })
	each(l, fLabelValue, func(v []byte) { value = v })
	return
}

// Labels decodes a TimeSeries' labels other than __name__ (slow path).
func Labels(dst []otlpwire.Attr, ts []byte) []otlpwire.Attr {
	each(ts, fTSLabels, func(l []byte) {
		n, v := labelParts(l)
		if string(n) == "__name__" {
			return
		}
		dst = append(dst, otlpwire.Attr{Key: string(n), Value: string(v), Hash: otlpwire.KVHash(l, false)})
	})
	return dst
}

// LimitError is a series over one of the limits (otlpwire.Limits, the same
// as OTLP's). Remote write has no partial success: the request is refused.
type LimitError struct {
	Series  int              // index in the request
	Metric  string           // clipped for messages
	Refusal otlpwire.Refusal // which limit
	Size    int              // what the series has
	Limit   int              // what the limit allows
}

func (e *LimitError) Error() string {
	what := map[otlpwire.Refusal]string{
		otlpwire.RefusedNameTooLong:       "metric name of %d bytes exceeds the limit of %d",
		otlpwire.RefusedLabelNameTooLong:  "label name of %d bytes exceeds the limit of %d",
		otlpwire.RefusedLabelValueTooLong: "label value of %d bytes exceeds the limit of %d",
		otlpwire.RefusedTooManyLabels:     "%d labels besides __name__ exceed the limit of %d",
	}[e.Refusal]
	return fmt.Sprintf("%v: timeseries %d (%s): %s", ErrInvalid, e.Series, e.Metric, fmt.Sprintf(what, e.Size, e.Limit))
}

// Unwrap makes a LimitError an ErrInvalid.
func (e *LimitError) Unwrap() error { return ErrInvalid }

// clip shortens caller-controlled text quoted in messages.
func clip(b []byte) string {
	const n = 64
	if len(b) > n {
		return fmt.Sprintf("%q... (%d bytes)", b[:n], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// Validate is ValidateLimited with otlpwire.DefaultLimits.
func Validate(req []byte) (series, samples int, err error) {
	return ValidateLimited(req, otlpwire.DefaultLimits())
}

// ValidateLimited checks the request and returns its series and sample
// counts. Label names must be non-empty, unique within a series and valid
// UTF-8, as must values; every series needs a __name__ and at least one
// sample or histogram; names, values and the label count stay within lim
// (zero fields: no limit), else a *LimitError. Label order is not checked:
// reordered labels name one series.
func ValidateLimited(req []byte, lim otlpwire.Limits) (series, samples int, err error) {
	maxLabels := lim.MaxLabels
	if maxLabels <= 0 {
		maxLabels = math.MaxInt32
	}
	var names [][]byte
	for b := req; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return series, samples, invalid("bad field tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if num != fReqTimeseries || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return series, samples, invalid("field %d: %v", num, protowire.ParseError(m))
			}
			b = b[m:]
			continue
		}
		ts, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return series, samples, invalid("timeseries: %v", protowire.ParseError(m))
		}
		b = b[m:]
		series++
		names = names[:0]
		var metric []byte
		points := 0
		for t := ts; len(t) > 0; {
			num, typ, n := protowire.ConsumeTag(t)
			if n < 0 {
				return series, samples, invalid("timeseries %d: bad field tag", series-1)
			}
			t = t[n:]
			if typ != protowire.BytesType {
				m := protowire.ConsumeFieldValue(num, typ, t)
				if m < 0 {
					return series, samples, invalid("timeseries %d: field %d: %v", series-1, num, protowire.ParseError(m))
				}
				t = t[m:]
				continue
			}
			v, m := protowire.ConsumeBytes(t)
			if m < 0 {
				return series, samples, invalid("timeseries %d: field %d: %v", series-1, num, protowire.ParseError(m))
			}
			t = t[m:]
			switch num {
			case fTSLabels:
				if err := checkMsg(v); err != nil {
					return series, samples, invalid("timeseries %d: label: %v", series-1, err)
				}
				ln, lv := labelParts(v)
				if len(ln) == 0 {
					return series, samples, invalid("timeseries %d: empty label name", series-1)
				}
				if !utf8.Valid(ln) || !utf8.Valid(lv) {
					return series, samples, invalid("timeseries %d: label %s is not valid UTF-8", series-1, clip(ln))
				}
				isName := string(ln) == "__name__"
				limitErr := func(r otlpwire.Refusal, size, limit int) error {
					return &LimitError{Series: series - 1, Metric: clip(metric), Refusal: r, Size: size, Limit: limit}
				}
				switch r := lim.Label(ln, len(lv)); {
				case isName && lim.MaxNameBytes > 0 && len(lv) > lim.MaxNameBytes:
					metric = lv
					return series, samples, limitErr(otlpwire.RefusedNameTooLong, len(lv), lim.MaxNameBytes)
				case isName:
				case r == otlpwire.RefusedLabelNameTooLong:
					return series, samples, limitErr(r, len(ln), lim.MaxLabelNameBytes)
				case r == otlpwire.RefusedLabelValueTooLong:
					return series, samples, limitErr(r, len(lv), lim.MaxLabelValueBytes)
				}
				// The count bounds the duplicate search below, so it comes first.
				if len(names) > maxLabels {
					return series, samples, limitErr(otlpwire.RefusedTooManyLabels, len(names), maxLabels)
				}
				for _, o := range names {
					if string(o) == string(ln) {
						return series, samples, invalid("timeseries %d: duplicate label %s", series-1, clip(ln))
					}
				}
				names = append(names, ln)
				if isName {
					metric = lv
				}
			case fTSSamples, fTSHistograms:
				if err := checkMsg(v); err != nil {
					return series, samples, invalid("timeseries %d: sample: %v", series-1, err)
				}
				points++
			}
		}
		if len(metric) == 0 {
			return series, samples, invalid("timeseries %d: missing __name__ label", series-1)
		}
		if len(names)-1 > maxLabels { // names holds __name__ too
			return series, samples, &LimitError{Series: series - 1, Metric: clip(metric), Refusal: otlpwire.RefusedTooManyLabels, Size: len(names) - 1, Limit: maxLabels}
		}
		if points == 0 {
			return series, samples, invalid("timeseries %d (%s): no samples", series-1, clip(metric))
		}
		samples += points
	}
	return series, samples, nil
}

func checkMsg(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}

// Metadata calls fn for each MetricMetadata of a request (remote write 1.0
// sends them periodically, often in requests of their own) with the metric
// family name and its type; entries of unknown type are skipped. Call
// Validate first.
func Metadata(req []byte, fn func(family []byte, t otlpwire.MetricType)) {
	each(req, fReqMetadata, func(md []byte) {
		var family []byte
		var typ uint64
		for b := md; len(b) > 0; {
			num, wt, n := protowire.ConsumeTag(b)
			if n < 0 {
				return
			}
			b = b[n:]
			switch {
			case num == fMetaType && wt == protowire.VarintType:
				v, m := protowire.ConsumeVarint(b)
				if m < 0 {
					return
				}
				typ, b = v, b[m:]
				continue
			case num == fMetaFamily && wt == protowire.BytesType:
				v, m := protowire.ConsumeBytes(b)
				if m < 0 {
					return
				}
				family, b = v, b[m:]
				continue
			}
			m := protowire.ConsumeFieldValue(num, wt, b)
			if m < 0 {
				return
			}
			b = b[m:]
		}
		if t := metadataType(typ); t != otlpwire.TypeUnknown && len(family) > 0 {
			fn(family, t)
		}
	})
}

// metadataType maps prompb.MetricMetadata.MetricType to the OTLP kind
// Phoenix reports: counters are sums; info and stateset are gauges in
// Prometheus' own terms.
func metadataType(v uint64) otlpwire.MetricType {
	switch v {
	case 1: // COUNTER
		return otlpwire.TypeSum
	case 2, 6, 7: // GAUGE, INFO, STATESET
		return otlpwire.TypeGauge
	case 3, 4: // HISTOGRAM, GAUGEHISTOGRAM
		return otlpwire.TypeHistogram
	case 5: // SUMMARY
		return otlpwire.TypeSummary
	}
	return otlpwire.TypeUnknown
}
