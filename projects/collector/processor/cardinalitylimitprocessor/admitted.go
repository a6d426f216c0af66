package cardinalitylimitprocessor

// admittedSet is one metric's admitted series: their keys (64-bit series
// hashes) in the order they were admitted, and an index from key to
// position. Senders repeat their order, so the key after the last one found
// is tried first: a sequential read, where a lookup in an index of a few
// hundred thousand series is a cache miss or two.
//
// Once the set is full, most keys looked up are not in it (every datapoint
// over the limit). A Bloom filter in front of the index, 16 bits per key
// with two probes (1.4 % false positives), answers most of those with two
// bit tests in a few cache-resident words.
//
// The index holds positions only (int32, open addressing, linear probing,
// at most half full): the keys are in order already. With the filter that
// is about 20 bytes per series, against 48 with a Go map from key to
// position. Series are never removed one by one: a reset drops the set.
type admittedSet struct {
	order []uint64
	slots []int32 // position+1 of a key, 0 for an empty slot; len is a power of two
	next  int     // position to try first
	bits  []uint64
}

const (
	bloomBitsPerKey = 16
	bloomMinWords   = 64
	minSlots        = 64
)

func newAdmittedSet() *admittedSet {
	return &admittedSet{slots: make([]int32, minSlots), bits: make([]uint64, bloomMinWords)}
}

func (s *admittedSet) len() int { return len(s.order) }

// mayHave is the Bloom filter: false means key is not admitted. Keys are
// already mixed hashes, so their two halves serve as the two probes.
func (s *admittedSet) mayHave(key uint64) bool {
	mask := uint64(len(s.bits))*64 - 1
	a, b := key&mask, (key>>32)&mask
	return s.bits[a>>6]&(1<<(a&63)) != 0 && s.bits[b>>6]&(1<<(b&63)) != 0
}

func (s *admittedSet) mark(key uint64) {
	mask := uint64(len(s.bits))*64 - 1
	a, b := key&mask, (key>>32)&mask
	s.bits[a>>6] |= 1 << (a & 63)
	s.bits[b>>6] |= 1 << (b & 63)
}

// home is key's first slot. It takes bits the filter's probes use less
// (16 and up, rotated), so that keys crowding one filter word do not also
// crowd one run of slots.
func (s *admittedSet) home(key uint64) int {
	return int((key>>16 | key<<48) & uint64(len(s.slots)-1))
}

// find returns key's position, or -1.
func (s *admittedSet) find(key uint64) int {
	mask := len(s.slots) - 1
	for i := s.home(key); ; i = (i + 1) & mask {
		p := s.slots[i]
		if p == 0 {
			return -1
		}
		if s.order[p-1] == key {
			return int(p - 1)
		}
	}
}

// has reports whether key is admitted.
func (s *admittedSet) has(key uint64) bool {
	if s.next < len(s.order) && s.order[s.next] == key {
		s.next++
		return true
	}
	if !s.mayHave(key) {
		return false
	}
	i := s.find(key)
	if i < 0 {
		return false
	}
	s.next = i + 1
	return true
}

// add admits key, which must not be admitted yet.
func (s *admittedSet) add(key uint64) {
	s.order = append(s.order, key) // Validate caps limit at MaxInt32, so positions fit int32
	s.next = len(s.order)
	if 2*len(s.order) > len(s.slots) {
		// Doubling rebuilds from the keys: amortised O(1) per key.
		s.slots = make([]int32, 2*len(s.slots))
		for p, k := range s.order {
			s.place(k, p)
		}
	} else {
		s.place(key, len(s.order)-1)
	}
	if len(s.order)*bloomBitsPerKey > len(s.bits)*64 {
		s.bits = make([]uint64, 2*len(s.bits))
		for _, k := range s.order {
			s.mark(k)
		}
		return
	}
	s.mark(key)
}

// place puts position p of key in the first free slot from its home.
func (s *admittedSet) place(key uint64, p int) {
	mask := len(s.slots) - 1
	i := s.home(key)
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = int32(p + 1)
}
