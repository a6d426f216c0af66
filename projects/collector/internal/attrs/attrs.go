// Package attrs hashes pdata attribute maps into series identities and
// rewrites them (keep, drop or replace keys) without allocating, so that the
// Phoenix processors can key their state by a uint64 on the hot path.
//
// Hashes are order-independent (pdata maps have no order) and 64-bit: two
// distinct attribute sets collide with probability ~n²/2⁶⁵, negligible at the
// series counts a collector holds (1e6 series: ~3e-8).
package attrs

import (
	"hash/maphash"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// seed is per process: hashes are only ever compared within one collector.
var seed = maphash.MakeSeed()

// mix is the splitmix64 finalizer: it spreads bits so that summing pair
// hashes (order independence) does not cancel structure.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// String hashes one string.
func String(s string) uint64 { return maphash.String(seed, s) }

// Combine folds b into a in an order-dependent way (for tuples).
func Combine(a, b uint64) uint64 { return mix(a*0x9e3779b97f4a7c15 ^ b) }

// Value hashes one attribute value; the type is part of the hash so that the
// int 5 and the string "5" are different series.
func Value(v pcommon.Value) uint64 {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return maphash.String(seed, v.Str()) ^ 0x1
	case pcommon.ValueTypeInt:
		return mix(uint64(v.Int()) ^ 0x2<<56)
	case pcommon.ValueTypeDouble:
		return mix(math.Float64bits(v.Double()) ^ 0x3<<56)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return mix(0x4 << 56)
		}
		return mix(0x5 << 56)
	case pcommon.ValueTypeBytes:
		return maphash.Bytes(seed, v.Bytes().AsRaw()) ^ 0x6
	case pcommon.ValueTypeEmpty:
		return mix(0x7 << 56)
	default:
		// Maps and slices are rare as metric attributes; AsString gives a
		// canonical form at the price of an allocation.
		return maphash.String(seed, v.AsString()) ^ 0x8
	}
}

// pair hashes a key/value pair.
func pair(k string, vh uint64) uint64 {
	return mix(maphash.String(seed, k)*0x9e3779b97f4a7c15 ^ vh)
}

// Map hashes every pair of m, independent of order.
func Map(m pcommon.Map) uint64 {
	var acc uint64
	n := uint64(0)
	for k, v := range m.All() {
		acc += pair(k, Value(v))
		n++
	}
	return mix(acc ^ n<<48)
}

// Set is a small set of attribute keys. A nil Set is empty. Configs name a
// handful of keys, for which a linear scan beats hashing the key.
type Set []string

// NewSet builds a Set from keys; it is non-nil even when keys is empty.
func NewSet(keys ...string) Set {
	return append(make(Set, 0, len(keys)), keys...)
}

// Has reports whether k is in s.
func (s Set) Has(k string) bool {
	for _, x := range s {
		if x == k {
			return true
		}
	}
	return false
}

// Rewrite describes how a map becomes the identity of a folded series: keys
// in Drop are removed; when Keep is non-nil only its keys survive; keys in
// Replace that are present get the value ReplaceWith; ExtraKey (if set) is
// added with the boolean value true. Hash and Apply agree by construction.
//
// Hash memoises what recent string pairs contribute, so a Rewrite is not
// safe for concurrent use (the processors call it under their mutex).
type Rewrite struct {
	Keep        Set
	Drop        Set
	Replace     Set
	ReplaceWith string
	ExtraKey    string

	// memo holds the contributions of recently hashed string pairs: a batch
	// repeats the same few datapoint pairs (state=user, direction=read) on
	// every series, and comparing two short strings is several times
	// cheaper than hashing them and checking the key against the sets.
	memo       [memoSize]memoPair
	replacedOK bool
	replaced   uint64
	extraOK    bool
	extra      uint64 // what ExtraKey adds to the accumulator
}

const memoSize = 16

type memoPair struct {
	k, v string
	add  uint64 // what the pair adds to the accumulator
	kept bool   // whether it counts at all
	ok   bool
}

// keeps reports whether key k survives the rewrite.
func (r *Rewrite) keeps(k string) bool {
	if r.Drop.Has(k) {
		return false
	}
	if r.Keep != nil && !r.Keep.Has(k) && !r.Replace.Has(k) {
		return false
	}
	return k != r.ExtraKey
}

// replacedHash is the value hash of ReplaceWith, computed once.
func (r *Rewrite) replacedHash() uint64 {
	if !r.replacedOK {
		r.replaced = maphash.String(seed, r.ReplaceWith) ^ 0x1
		r.replacedOK = true
	}
	return r.replaced
}

// contribution is what pair (k, v) adds to Hash's accumulator, and whether
// it counts.
func (r *Rewrite) contribution(k string, v pcommon.Value) (uint64, bool) {
	if !r.keeps(k) {
		return 0, false
	}
	if r.Replace.Has(k) {
		return pair(k, r.replacedHash()), true
	}
	return pair(k, Value(v)), true
}

// memoSlot picks a memo slot from the lengths and edge bytes of the pair:
// no hashing, and the pairs of one metric land in different slots.
func memoSlot(k, v string) int {
	i := len(k)*3 + len(v)*5
	if len(v) > 0 {
		i += int(v[0]) + int(v[len(v)-1])*7
	}
	return i & (memoSize - 1)
}

// Hash is Map(Apply(m)) without building the rewritten map.
func (r *Rewrite) Hash(m pcommon.Map) uint64 {
	var acc uint64
	n := uint64(0)
	for k, v := range m.All() {
		var add uint64
		var kept bool
		if v.Type() == pcommon.ValueTypeStr {
			s := v.Str()
			e := &r.memo[memoSlot(k, s)]
			if e.ok && e.k == k && e.v == s {
				add, kept = e.add, e.kept
			} else {
				add, kept = r.contribution(k, v)
				// Field by field: a composite literal is built on the stack
				// and copied with 16-byte moves that straddle its narrower
				// stores, stalling store-to-load forwarding (13 % of Hash's
				// samples in the cardinality_limit benchmark sat on it).
				e.k, e.v, e.add, e.kept, e.ok = k, s, add, kept, true
			}
		} else {
			add, kept = r.contribution(k, v)
		}
		if kept {
			acc += add
			n++
		}
	}
	if r.ExtraKey != "" {
		if !r.extraOK {
			// Once: hashing the key on every call was a third of the
			// fold hash in phoenix_cardinality_limit.
			r.extra, r.extraOK = pair(r.ExtraKey, mix(0x4<<56)), true
		}
		acc += r.extra
		n++
	}
	return mix(acc ^ n<<48)
}

// Apply writes the rewritten src into dst (which it clears first).
func (r *Rewrite) Apply(src, dst pcommon.Map) {
	dst.Clear()
	dst.EnsureCapacity(src.Len() + 1)
	for k, v := range src.All() {
		if !r.keeps(k) {
			continue
		}
		if r.Replace.Has(k) {
			dst.PutStr(k, r.ReplaceWith)
			continue
		}
		v.CopyTo(dst.PutEmpty(k))
	}
	if r.ExtraKey != "" {
		dst.PutBool(r.ExtraKey, true)
	}
}

// Lookup returns the value of key k from the first map that has it, which is
// how the processors read keys that may sit on the resource or the datapoint.
func Lookup(k string, maps ...pcommon.Map) (pcommon.Value, bool) {
	for _, m := range maps {
		if v, ok := m.Get(k); ok {
			return v, true
		}
	}
	return pcommon.Value{}, false
}
