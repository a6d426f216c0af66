// Package otlpwire walks OTLP metrics requests (ExportMetricsServiceRequest)
// straight from their protobuf bytes, hashing label sets as it goes. It is
// the ingest hot path: it never builds pdata or proto structs, and a request
// is walked with no allocation per datapoint. Validate checks the structure
// first, so a malformed request is refused before anything is counted.
package otlpwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// MetricType is the kind of a metric, from the field that carries its points.
type MetricType uint8

// Metric types.
const (
	TypeUnknown MetricType = iota
	TypeGauge
	TypeSum
	TypeHistogram
	TypeExpHistogram
	TypeSummary
)

var typeNames = [...]string{"unknown", "gauge", "sum", "histogram", "exponential_histogram", "summary"}

func (t MetricType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// Field numbers of the OTLP metrics protos (opentelemetry-proto v1).
const (
	fReqResourceMetrics = 1

	fRMResource     = 1
	fRMScopeMetrics = 2

	fResAttributes = 1

	fSMMetrics = 2

	fMetricName      = 1
	fMetricGauge     = 5
	fMetricSum       = 7
	fMetricHistogram = 9
	fMetricExpHist   = 10
	fMetricSummary   = 11

	fDataPoints = 1 // in Gauge, Sum, Histogram, ExponentialHistogram, Summary

	fKVKey   = 1
	fKVValue = 2
)

// AttrField is the field number of `attributes` in a datapoint message of
// the given type.
func AttrField(t MetricType) protowire.Number {
	switch t {
	case TypeHistogram:
		return 9
	case TypeExpHistogram:
		return 1
	default: // NumberDataPoint and SummaryDataPoint
		return 7
	}
}

// Resource is what the walker tells a Sink about one ResourceMetrics.
type Resource struct {
	Raw        []byte // the Resource message (nil when absent)
	Hash       uint64 // identity hash of its attributes, phoenix.* excluded
	Experiment []byte // phoenix.experiment.id string value, nil when absent
	Variant    []byte // phoenix.variant string value, nil when absent
	Size       int    // encoded bytes of the ResourceMetrics
}

// Sink receives a request's contents in order: Resource, then for each
// metric Metric followed by its Points.
type Sink interface {
	Resource(r *Resource)
	Metric(name []byte, t MetricType)
	// Point gets the identity hash of the datapoint's attributes, its value
	// (as_double or as_int; sum for histograms and summaries) and the
	// datapoint message, whose attributes are field AttrField(t).
	Point(attrHash uint64, value float64, dp []byte)
	// Refuse gets a datapoint refused by the limits (in place of Point).
	// The request is still walked to its end: it may yet be malformed.
	Refuse(r Refusal)
}

// Limits bound what a caller controls in a series, the same for OTLP and
// remote write (issue 14 §3). A datapoint over any of them is refused (OTLP
// partial success; remote write refuses the request). Zero means no limit.
type Limits struct {
	MaxNameBytes       int // metric name
	MaxLabelNameBytes  int // attribute key / label name
	MaxLabelValueBytes int // attribute value (a string's bytes; other kinds their encoded size)
	MaxLabels          int // resource + datapoint attributes (phoenix.* aside) / labels besides __name__
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{MaxNameBytes: 256, MaxLabelNameBytes: 256, MaxLabelValueBytes: 4096, MaxLabels: 128}
}

// norm replaces "no limit" (zero or less) by a bound nothing reaches.
func (l Limits) norm() Limits {
	for _, v := range []*int{&l.MaxNameBytes, &l.MaxLabelNameBytes, &l.MaxLabelValueBytes, &l.MaxLabels} {
		if *v <= 0 {
			*v = math.MaxInt32
		}
	}
	return l
}

// Refusal is why a datapoint was refused though the request is well-formed.
type Refusal uint8

// Refusals, in the order a datapoint is checked for them.
const (
	Accepted Refusal = iota
	RefusedEmptyLabelName
	RefusedNameTooLong
	RefusedLabelNameTooLong
	RefusedLabelValueTooLong
	RefusedTooManyLabels
	NumRefusals
)

var refusalNames = [NumRefusals]string{"", "empty_label_name", "metric_name_too_long", "label_name_too_long", "label_value_too_long", "too_many_labels"}

// String is the refusal's reason as counted and reported.
func (r Refusal) String() string {
	if r < NumRefusals {
		return refusalNames[r]
	}
	return "refused"
}

// label checks one attribute against the limits.
func (l *Limits) label(key []byte, valueLen int) Refusal {
	switch {
	case len(key) == 0:
		return RefusedEmptyLabelName
	case len(key) > l.MaxLabelNameBytes:
		return RefusedLabelNameTooLong
	case valueLen > l.MaxLabelValueBytes:
		return RefusedLabelValueTooLong
	}
	return Accepted
}

// Label is label for callers outside the walk (remote write).
func (l Limits) Label(key []byte, valueLen int) Refusal { l = l.norm(); return l.label(key, valueLen) }

// ErrMalformed wraps every structural error.
var ErrMalformed = errors.New("malformed OTLP protobuf")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Walk validates an ExportMetricsServiceRequest and feeds it to sink in one
// pass. On a malformed request it returns an error (wrapping ErrMalformed)
// after having fed part of it: sinks record and apply only on success (see
// cardinality.Batch). It accepts exactly what Validate accepts.
func Walk(req []byte, sink Sink) error { return WalkLimited(req, sink, defaultLimits) }

var defaultLimits = DefaultLimits()

// WalkLimited is Walk with the given limits: datapoints over them go to
// sink.Refuse. Limits are checked once per distinct attribute (through the
// walk's attribute cache), per metric name and per datapoint's attribute
// count, so the hot path stays as it was.
func WalkLimited(req []byte, sink Sink, lim Limits) error {
	w := walkerPool.Get().(*walker)
	defer func() {
		*w = walker{}
		walkerPool.Put(w)
	}()
	w.sink = sink
	w.lim = lim.norm()
	res := &w.res
	for len(req) > 0 {
		num, typ, n := consumeTag(req)
		if n < 0 {
			return malformed("request: bad field tag")
		}
		req = req[n:]
		if num == fReqResourceMetrics && typ == protowire.BytesType {
			rm, m := consumeBytes(req)
			if m < 0 {
				return malformed("request: truncated resource_metrics")
			}
			req = req[m:]
			if err := w.walkResourceMetrics(rm, res); err != nil {
				return err
			}
			continue
		}
		m := consumeFieldValue(num, typ, req)
		if m < 0 {
			return malformed("request: field %d: bad value", num)
		}
		req = req[m:]
	}
	return nil
}

func (w *walker) walkResourceMetrics(rm []byte, res *Resource) error {
	sink := w.sink
	*res = Resource{Size: len(rm)}
	w.resBad, w.dpLabels = Accepted, w.lim.MaxLabels
	// The resource may follow its scope metrics on the wire: find it first.
	b := rm
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("resource_metrics: bad field tag")
		}
		b = b[n:]
		m := consumeFieldValue(num, typ, b)
		if m < 0 {
			return malformed("resource_metrics: field %d: bad value", num)
		}
		if num == fRMResource && typ == protowire.BytesType {
			// A repeated singular field: the last one counts, all must parse.
			raw, _ := consumeBytes(b)
			var err error
			if res.Hash, res.Experiment, res.Variant, err = w.hashResource(raw); err != nil {
				return err
			}
			res.Raw = raw
		}
		b = b[m:]
	}
	sink.Resource(res)
	b = rm
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		b = b[n:]
		if num == fRMScopeMetrics && typ == protowire.BytesType {
			v, m := consumeBytes(b)
			b = b[m:]
			if err := w.walkScope(v); err != nil {
				return err
			}
			continue
		}
		b = b[consumeFieldValue(num, typ, b):] // framing checked above
	}
	return nil
}

func (w *walker) walkScope(sm []byte) error {
	for len(sm) > 0 {
		num, typ, n := consumeTag(sm)
		if n < 0 {
			return malformed("scope_metrics: bad field tag")
		}
		sm = sm[n:]
		if num == fSMMetrics && typ == protowire.BytesType {
			metric, m := consumeBytes(sm)
			if m < 0 {
				return malformed("scope_metrics: truncated metric")
			}
			sm = sm[m:]
			if err := w.walkMetric(metric); err != nil {
				return err
			}
			continue
		}
		m := consumeFieldValue(num, typ, sm)
		if m < 0 {
			return malformed("scope_metrics: field %d: bad value", num)
		}
		sm = sm[m:]
	}
	return nil
}

func (w *walker) walkMetric(metric []byte) error {
	sink := w.sink
	var name, data []byte
	var t MetricType
	b := metric
	for len(b) > 0 {
		var v []byte
		var num protowire.Number
		// Inline fast path: a one-byte tag of a length-delimited field with
		// a one-byte length (name, unit, and data of a small metric).
		if c := b[0]; c < 0x80 && c >= 0x08 && c&7 == byte(protowire.BytesType) && len(b) > 1 && b[1] < 0x80 && int(b[1])+2 <= len(b) {
			num = protowire.Number(c >> 3)
			v, b = b[2:2+int(b[1])], b[2+int(b[1]):]
		} else {
			var typ protowire.Type
			var n int
			num, typ, n = consumeTag(b)
			if n < 0 {
				return malformed("metric: bad field tag")
			}
			b = b[n:]
			if typ != protowire.BytesType {
				m := consumeFieldValue(num, typ, b)
				if m < 0 {
					return malformed("metric: field %d: bad value", num)
				}
				b = b[m:]
				continue
			}
			var m int
			v, m = consumeBytes(b)
			if m < 0 {
				return malformed("metric: field %d: truncated", num)
			}
			b = b[m:]
		}
		var ft MetricType
		switch num {
		case fMetricName:
			if !w.validName(v) {
				return malformed("metric name is not valid UTF-8")
			}
			name = v
			continue
		case fMetricGauge:
			ft = TypeGauge
		case fMetricSum:
			ft = TypeSum
		case fMetricHistogram:
			ft = TypeHistogram
		case fMetricExpHist:
			ft = TypeExpHistogram
		case fMetricSummary:
			ft = TypeSummary
		default:
			continue
		}
		// The last data field is the metric's (a oneof); earlier ones
		// (rare) must still parse.
		if data != nil {
			if err := w.checkData(data, t); err != nil {
				return err
			}
		}
		t, data = ft, v
	}
	// A refused resource or name refuses every point of the metric; the
	// points are still walked, to validate them.
	refuse := w.resBad
	if refuse == Accepted && len(name) > w.lim.MaxNameBytes {
		refuse = RefusedNameTooLong
	}
	if refuse == Accepted {
		sink.Metric(name, t)
	}
	// One pass validates the datapoints and feeds them.
	for b := data; len(b) > 0; {
		// Inline fast path: field 1 (data_points) with a one-byte length.
		if b[0] == 0x0a && len(b) > 1 && b[1] < 0x80 && int(b[1])+2 <= len(b) {
			dp := b[2 : 2+int(b[1])]
			b = b[2+int(b[1]):]
			h, v, bad, err := w.hashPoint(dp, t)
			if err != nil {
				return err
			}
			if bad|refuse != Accepted {
				sink.Refuse(max(bad, refuse))
				continue
			}
			sink.Point(h, v, dp)
			continue
		}
		num, typ, n := consumeTag(b)
		if n < 0 {
			return malformed("%s: bad field tag", t)
		}
		b = b[n:]
		if num == fDataPoints && typ == protowire.BytesType {
			dp, m := consumeBytes(b)
			if m < 0 {
				return malformed("%s: truncated datapoint", t)
			}
			b = b[m:]
			h, v, bad, err := w.hashPoint(dp, t)
			if err != nil {
				return err
			}
			if bad|refuse != Accepted {
				sink.Refuse(max(bad, refuse))
				continue
			}
			sink.Point(h, v, dp)
			continue
		}
		m := consumeFieldValue(num, typ, b)
		if m < 0 {
			return malformed("%s: field %d: bad value", t, num)
		}
		b = b[m:]
	}
	return nil
}

// checkData validates a data message (Gauge, Sum, ...) and its datapoints.
func (w *walker) checkData(data []byte, t MetricType) error {
	for len(data) > 0 {
		num, typ, n := consumeTag(data)
		if n < 0 {
			return malformed("%s: bad field tag", t)
		}
		data = data[n:]
		m := consumeFieldValue(num, typ, data)
		if m < 0 {
			return malformed("%s: field %d: bad value", t, num)
		}
		if num == fDataPoints && typ == protowire.BytesType {
			dp, _ := consumeBytes(data)
			if _, _, _, err := w.hashPoint(dp, t); err != nil {
				return err
			}
		}
		data = data[m:]
	}
	return nil
}

// eachBytesField calls fn for every length-delimited field numbered want.
func eachBytesField(b []byte, want protowire.Number, fn func(v []byte)) {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if num == want && typ == protowire.BytesType {
			v, m := consumeBytes(b)
			if m < 0 {
				return
			}
			fn(v)
			b = b[m:]
			continue
		}
		m := consumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
}

const phoenixPrefix = "phoenix."

// HashAttrs hashes the repeated KeyValue field `field` of msg so that the
// order of attributes does not matter: the sum of each KeyValue's hash.
// phoenix.* keys are skipped. Resource attributes hash differently from
// datapoint ones, because they are different places in a series' identity.
func HashAttrs(msg []byte, field protowire.Number, resource bool) uint64 {
	var sum uint64
	b := msg
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return sum
		}
		b = b[n:]
		if num == field && typ == protowire.BytesType {
			kv, m := consumeBytes(b)
			if m < 0 {
				return sum
			}
			b = b[m:]
			key, _ := kvParts(kv)
			if hasPhoenixPrefix(key) {
				continue
			}
			sum += KVHash(kv, resource)
			continue
		}
		m := consumeFieldValue(num, typ, b)
		if m < 0 {
			return sum
		}
		b = b[m:]
	}
	return sum
}

// HashPoint is HashAttrs over a datapoint of a metric of type t that
// also reads its value in the same pass: field 4 (as_double) or 6 (as_int)
// of a NumberDataPoint, field 5 (sum) of the other datapoint kinds.
func HashPoint(dp []byte, t MetricType) (sum uint64, value float64) {
	sum, value, _, _ = (&walker{}).hashPoint(dp, t)
	return
}

// hashPoint is HashPoint that also validates the datapoint's framing and
// attributes. The one-byte tag and length cases are decoded inline: this
// loop runs for every field of every datapoint.
//
// bad is the first limit the datapoint's attributes break, or Accepted.
func (w *walker) hashPoint(dp []byte, t MetricType) (sum uint64, value float64, bad Refusal, err error) {
	b := dp
	af := AttrField(t)
	number := t == TypeGauge || t == TypeSum
	labels := 0
	for len(b) > 0 {
		var num protowire.Number
		var typ protowire.Type
		if c := b[0]; c < 0x80 && c >= 0x08 {
			num, typ = protowire.Number(c>>3), protowire.Type(c&7)
			b = b[1:]
		} else {
			var n int
			if num, typ, n = consumeTagSlow(b); n < 0 {
				return 0, 0, 0, malformed("%s datapoint: bad field tag", t)
			}
			b = b[n:]
		}
		switch typ {
		case protowire.Fixed64Type:
			if len(b) < 8 {
				return 0, 0, 0, malformed("%s datapoint: field %d: truncated", t, num)
			}
			x := binary.LittleEndian.Uint64(b)
			b = b[8:]
			switch {
			case num == 4 && number:
				value = math.Float64frombits(x)
			case num == 6 && number:
				value = float64(int64(x))
			case num == 5 && !number:
				value = math.Float64frombits(x)
			}
		case protowire.BytesType:
			var v []byte
			if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) {
				v, b = b[1:1+int(b[0])], b[1+int(b[0]):]
			} else {
				var m int
				if v, m = consumeBytesSlow(b); m < 0 {
					return 0, 0, 0, malformed("%s datapoint: field %d: truncated", t, num)
				}
				b = b[m:]
			}
			if num == af {
				h, phoenix, r, err := w.kv(v)
				if err != nil {
					return 0, 0, 0, malformed("%s datapoint: %v", t, err)
				}
				if !phoenix {
					sum += h
					labels++
					if r != Accepted && bad == Accepted {
						bad = r
					}
				}
			}
		default:
			m := consumeFieldValue(num, typ, b)
			if m < 0 {
				return 0, 0, 0, malformed("%s datapoint: field %d: bad value", t, num)
			}
			b = b[m:]
		}
	}
	if labels > w.dpLabels && bad == Accepted {
		bad = RefusedTooManyLabels
	}
	return sum, value, bad, nil
}

// checkKV validates a KeyValue (framing, UTF-8 key, AnyValue framing) and
// returns its key. The usual encoding (key then value, short lengths) is
// decoded inline.
func checkKV(kv []byte) (key []byte, valueLen int, err error) {
	// Fast path: 0x0a len key 0x12 len value, lengths < 128.
	if len(kv) >= 2 && kv[0] == 0x0a && kv[1] < 0x80 && int(kv[1])+2 < len(kv) {
		kl := int(kv[1])
		rest := kv[2+kl:]
		if len(rest) >= 2 && rest[0] == 0x12 && rest[1] < 0x80 && int(rest[1])+2 == len(rest) {
			key = kv[2 : 2+kl]
			if !utf8.Valid(key) {
				return nil, 0, errKeyUTF8
			}
			if err := checkAnyValue(rest[2:]); err != nil {
				return nil, 0, err
			}
			return key, len(rest) - 2, nil // under 128 bytes: below any sane value limit
		}
	}
	for len(kv) > 0 {
		num, typ, n := consumeTag(kv)
		if n < 0 {
			return nil, 0, errors.New("attribute: bad field tag")
		}
		kv = kv[n:]
		if typ != protowire.BytesType {
			m := consumeFieldValue(num, typ, kv)
			if m < 0 {
				return nil, 0, fmt.Errorf("attribute: field %d: bad value", num)
			}
			kv = kv[m:]
			continue
		}
		v, m := consumeBytes(kv)
		if m < 0 {
			return nil, 0, fmt.Errorf("attribute: field %d: truncated", num)
		}
		kv = kv[m:]
		switch num {
		case fKVKey:
			if !utf8.Valid(v) {
				return nil, 0, errKeyUTF8
			}
			key = v
		case fKVValue:
			if err := checkAnyValue(v); err != nil {
				return nil, 0, err
			}
			valueLen = anyValueLen(v)
		}
	}
	return key, valueLen, nil
}

// anyValueLen is the size a value limit applies to: a string's bytes, the
// encoded size of any other kind.
func anyValueLen(av []byte) int {
	if len(av) > 0 && av[0] == 0x0a {
		if v, m := consumeBytes(av[1:]); m >= 0 && m+1 == len(av) {
			return len(v)
		}
	}
	return len(av)
}

// checkAnyValue checks an AnyValue's framing.
func checkAnyValue(av []byte) error {
	// Fast path: a short string value.
	if len(av) >= 2 && av[0] == 0x0a && av[1] < 0x80 && int(av[1])+2 == len(av) {
		return nil
	}
	for len(av) > 0 {
		num, typ, n := consumeTag(av)
		if n < 0 {
			return errors.New("attribute value: bad field tag")
		}
		av = av[n:]
		m := consumeFieldValue(num, typ, av)
		if m < 0 {
			return fmt.Errorf("attribute value: field %d: bad value", num)
		}
		av = av[m:]
	}
	return nil
}

func hasPhoenixPrefix(key []byte) bool {
	return len(key) >= len(phoenixPrefix) && string(key[:len(phoenixPrefix)]) == phoenixPrefix
}

// KVHash is one attribute's contribution to a label-set hash. kv is the
// encoded KeyValue (or remote-write Label) message.
func KVHash(kv []byte, resource bool) uint64 {
	h := xxhash.Sum64(kv)
	if resource {
		h = resourceMix(h)
	}
	return h
}

func resourceMix(h uint64) uint64 { return Mix(h ^ 0x6a09e667f3bcc909) }

// walker carries a walk's state: the sink, the current resource, and a
// small cache of attributes already checked and hashed. Attribute bytes
// repeat a lot (state="user" on every process, host.name on every process
// of a host); a hit costs a short compare instead of a parse and a hash.
type walker struct {
	sink Sink
	lim  Limits // normalized: no zero fields
	res  Resource
	// The current resource's refusal (its attributes break a limit), and
	// how many datapoint attributes its series may add.
	resBad   Refusal
	dpLabels int
	cache    [kvCacheSize]kvEntry
	names    [16][]byte // metric names already checked (they repeat per resource)
}

// validName checks a metric name's UTF-8 through a small cache.
func (w *walker) validName(name []byte) bool {
	if len(name) == 0 {
		return true
	}
	e := &w.names[(uint(len(name))^uint(name[len(name)-1])*7^uint(name[len(name)/2])*3)&15]
	if *e != nil && string(*e) == string(name) {
		return true
	}
	if !utf8.Valid(name) {
		return false
	}
	*e = name
	return true
}

const kvCacheSize = 64

type kvEntry struct {
	kv      []byte // points into the request being walked
	h       uint64 // xxhash of kv (before any resource mixing)
	phoenix bool
	bad     Refusal // the limit the attribute breaks (limits are fixed for a walk)
}

var walkerPool = sync.Pool{New: func() any { return new(walker) }}

// kv checks and hashes an encoded KeyValue, through the cache.
func (w *walker) kv(kv []byte) (h uint64, phoenix bool, bad Refusal, err error) {
	if len(kv) == 0 {
		// An empty KeyValue: an empty key, refused when limits apply.
		if w.lim.MaxLabels == 0 {
			return xxhash.Sum64(kv), false, Accepted, nil
		}
		return xxhash.Sum64(kv), false, RefusedEmptyLabelName, nil
	}
	e := &w.cache[(uint(len(kv))*0x9e37^uint(kv[len(kv)-1])*31^uint(kv[len(kv)/2]))&(kvCacheSize-1)]
	if e.kv != nil && string(e.kv) == string(kv) {
		return e.h, e.phoenix, e.bad, nil
	}
	key, vlen, err := checkKV(kv)
	if err != nil {
		return 0, false, 0, err
	}
	*e = kvEntry{kv: kv, h: xxhash.Sum64(kv), phoenix: hasPhoenixPrefix(key)}
	if w.lim.MaxLabels != 0 && !e.phoenix { // a bare walker (HashPoint) checks no limits
		e.bad = w.lim.label(key, vlen)
	}
	return e.h, e.phoenix, e.bad, nil
}

// Mix is a 64-bit finalizer (murmur3 fmix64).
func Mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb93e185323fb
	h ^= h >> 33
	return h
}

// SeriesKey combines a metric name hash and the summed attribute hashes
// (resource + datapoint) into a series identity.
func SeriesKey(nameHash, attrSum uint64) uint64 {
	return Mix(nameHash ^ bits.RotateLeft64(attrSum*0x9e3779b97f4a7c15, 17))
}

// NameHash hashes a metric name.
func NameHash(name []byte) uint64 { return xxhash.Sum64(name) }

// hashResource hashes a Resource's attributes, picks out the stream
// routing attributes and validates it.
func (w *walker) hashResource(res []byte) (h uint64, exp, variant []byte, err error) {
	w.resBad, w.dpLabels = Accepted, w.lim.MaxLabels // the last resource field counts
	b := res
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return 0, nil, nil, malformed("resource: bad field tag")
		}
		b = b[n:]
		if num == fResAttributes && typ == protowire.BytesType {
			kv, m := consumeBytes(b)
			if m < 0 {
				return 0, nil, nil, malformed("resource: truncated attribute")
			}
			b = b[m:]
			raw, phoenix, bad, err := w.kv(kv)
			if err != nil {
				return 0, nil, nil, malformed("resource: %v", err)
			}
			if !phoenix {
				w.dpLabels--
				if bad != Accepted && w.resBad == Accepted {
					w.resBad = bad
				}
			}
			if phoenix {
				key, val := kvParts(kv)
				switch string(key) {
				case AttrExperimentID:
					exp = stringValue(val)
				case AttrVariant:
					variant = stringValue(val)
				}
				continue
			}
			h += resourceMix(raw)
			continue
		}
		m := consumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, nil, nil, malformed("resource: field %d: bad value", num)
		}
		b = b[m:]
	}
	if w.dpLabels < 0 && w.resBad == Accepted {
		w.resBad = RefusedTooManyLabels
	}
	return h, exp, variant, nil
}

// Routing attributes (mirrors apiv1; otlpwire stays dependency-free).
const (
	AttrExperimentID = "phoenix.experiment.id"
	AttrVariant      = "phoenix.variant"
)

// kvParts splits a KeyValue into its key and its AnyValue message.
func kvParts(kv []byte) (key, val []byte) {
	for len(kv) > 0 {
		num, typ, n := consumeTag(kv)
		if n < 0 {
			return
		}
		kv = kv[n:]
		if typ == protowire.BytesType {
			v, m := consumeBytes(kv)
			if m < 0 {
				return
			}
			kv = kv[m:]
			switch num {
			case fKVKey:
				key = v
			case fKVValue:
				val = v
			}
			continue
		}
		m := consumeFieldValue(num, typ, kv)
		if m < 0 {
			return
		}
		kv = kv[m:]
	}
	return
}

// stringValue returns an AnyValue's string_value, or nil.
func stringValue(any []byte) []byte {
	var out []byte
	eachBytesField(any, 1, func(v []byte) { out = v })
	return out
}

// Attr is one decoded attribute.
type Attr struct {
	Key   string
	Value string // rendered value (strings as is, others in their text form)
	Hash  uint64 // KVHash of the encoded KeyValue
}

// Attrs decodes the repeated KeyValue field of msg (slow path: it
// allocates), skipping phoenix.* keys. It appends to dst.
func Attrs(dst []Attr, msg []byte, field protowire.Number, resource bool) []Attr {
	eachBytesField(msg, field, func(kv []byte) {
		key, val := kvParts(kv)
		if hasPhoenixPrefix(key) {
			return
		}
		dst = append(dst, Attr{Key: string(key), Value: RenderAnyValue(val), Hash: KVHash(kv, resource)})
	})
	return dst
}

// ResourceAttrs decodes a Resource message's attributes.
func ResourceAttrs(dst []Attr, res []byte) []Attr { return Attrs(dst, res, fResAttributes, true) }

// RenderAnyValue renders an AnyValue as label text: strings as they are,
// numbers and booleans in Go's text form, anything else as a short tag.
func RenderAnyValue(v []byte) string {
	out := ""
	for len(v) > 0 {
		num, typ, n := consumeTag(v)
		if n < 0 {
			return out
		}
		v = v[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			s, m := consumeBytes(v)
			if m < 0 {
				return out
			}
			out, v = string(s), v[m:]
		case num == 2 && typ == protowire.VarintType:
			x, m := protowire.ConsumeVarint(v)
			if m < 0 {
				return out
			}
			out, v = strconv.FormatBool(x != 0), v[m:]
		case num == 3 && typ == protowire.VarintType:
			x, m := protowire.ConsumeVarint(v)
			if m < 0 {
				return out
			}
			out, v = strconv.FormatInt(int64(x), 10), v[m:]
		case num == 4 && typ == protowire.Fixed64Type:
			x, m := consumeFixed64(v)
			if m < 0 {
				return out
			}
			out, v = strconv.FormatFloat(math.Float64frombits(x), 'g', -1, 64), v[m:]
		default:
			m := consumeFieldValue(num, typ, v)
			if m < 0 {
				return out
			}
			switch num {
			case 5:
				out = "[array]"
			case 6:
				out = "[kvlist]"
			case 7:
				out = "[bytes]"
			}
			v = v[m:]
		}
	}
	return out
}

// Validate checks that req is a well-formed ExportMetricsServiceRequest as
// far as ingest reads it: every message it descends into parses, and
// attribute keys are UTF-8. It returns the number of datapoints. It is
// written as plain loops (no closures, no string building) because it runs
// over every byte of every request.
func Validate(req []byte) (int, error) {
	points := 0
	var it fields
	it.b = req
	for it.next() {
		if it.err != nil {
			return points, malformed("request: %v", it.err)
		}
		if it.num != fReqResourceMetrics || it.typ != protowire.BytesType {
			continue
		}
		var rm fields
		rm.b = it.v
		for rm.next() {
			if rm.err != nil {
				return points, malformed("resource_metrics: %v", rm.err)
			}
			if rm.typ != protowire.BytesType {
				continue
			}
			switch rm.num {
			case fRMResource:
				if err := validateAttrs(rm.v, fResAttributes); err != nil {
					return points, malformed("resource: %v", err)
				}
			case fRMScopeMetrics:
				var sm fields
				sm.b = rm.v
				for sm.next() {
					if sm.err != nil {
						return points, malformed("scope_metrics: %v", sm.err)
					}
					if sm.num != fSMMetrics || sm.typ != protowire.BytesType {
						continue
					}
					n, err := validateMetric(sm.v)
					points += n
					if err != nil {
						return points, err
					}
				}
			}
		}
	}
	if it.err != nil {
		return points, malformed("request: %v", it.err)
	}
	return points, nil
}

func validateMetric(metric []byte) (int, error) {
	points := 0
	var it fields
	it.b = metric
	for it.next() {
		if it.err != nil {
			return points, malformed("metric: %v", it.err)
		}
		if it.typ != protowire.BytesType {
			continue
		}
		var t MetricType
		switch it.num {
		case fMetricName:
			if !utf8.Valid(it.v) {
				return points, malformed("metric name is not valid UTF-8")
			}
			continue
		case fMetricGauge:
			t = TypeGauge
		case fMetricSum:
			t = TypeSum
		case fMetricHistogram:
			t = TypeHistogram
		case fMetricExpHist:
			t = TypeExpHistogram
		case fMetricSummary:
			t = TypeSummary
		default:
			continue
		}
		af := AttrField(t)
		var data fields
		data.b = it.v
		for data.next() {
			if data.err != nil {
				return points, malformed("%s: %v", t, data.err)
			}
			if data.num != fDataPoints || data.typ != protowire.BytesType {
				continue
			}
			points++
			if err := validateAttrs(data.v, af); err != nil {
				return points, malformed("%s datapoint: %v", t, err)
			}
		}
	}
	return points, nil
}

var errKeyUTF8 = errors.New("attribute key is not valid UTF-8")

func validateAttrs(msg []byte, field protowire.Number) error {
	var it fields
	it.b = msg
	for it.next() {
		if it.err != nil {
			return it.err
		}
		if it.num != field || it.typ != protowire.BytesType {
			continue
		}
		var kv fields
		kv.b = it.v
		for kv.next() {
			if kv.err != nil {
				return fmt.Errorf("attribute: %w", kv.err)
			}
			if kv.typ != protowire.BytesType {
				continue
			}
			switch kv.num {
			case fKVKey:
				if !utf8.Valid(kv.v) {
					return errKeyUTF8
				}
			case fKVValue:
				var av fields
				av.b = kv.v
				for av.next() {
					if av.err != nil {
						return fmt.Errorf("attribute value: %w", av.err)
					}
				}
			}
		}
	}
	return nil
}

// fields iterates a message's fields; v is set for length-delimited ones.
// next returns true with err set once on a parse error, then false.
type fields struct {
	b   []byte
	num protowire.Number
	typ protowire.Type
	v   []byte
	err error
}

func (f *fields) next() bool {
	if len(f.b) == 0 || f.err != nil {
		return false
	}
	num, typ, n := consumeTag(f.b)
	if n < 0 {
		f.err = protowire.ParseError(n)
		f.b = nil
		return true
	}
	f.b = f.b[n:]
	f.num, f.typ, f.v = num, typ, nil
	if typ == protowire.BytesType {
		v, m := consumeBytes(f.b)
		if m < 0 {
			f.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
			f.b = nil
			return true
		}
		f.v, f.b = v, f.b[m:]
		return true
	}
	m := consumeFieldValue(num, typ, f.b)
	if m < 0 {
		f.err = fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
		f.b = nil
		return true
	}
	f.b = f.b[m:]
	return true
}
