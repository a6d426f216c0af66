package cardinality

// table is an open-addressing hash table of series keyed by their 64-bit
// identity hash, with linear probing. The hash is already well mixed, so it
// indexes the table directly, and the series record lives in the slot: one
// cache miss per datapoint instead of a map lookup plus a slot lookup. Load
// stays at most 3/4, so a series costs 32/load bytes: 43 to 85.
type table struct {
	slots []series
	mask  uint64
	n     int
}

const minTableSize = 1024

// emptyHash marks an empty slot; a series whose hash is 0 is stored as 1.
const emptyHash = 0

func fixHash(h uint64) uint64 {
	if h == emptyHash {
		return 1
	}
	return h
}

func (t *table) init(size int) {
	t.slots = make([]series, size)
	t.mask = uint64(size - 1)
	t.n = 0
}

// find returns the slot holding h, or nil.
func (t *table) find(h uint64) *series {
	if t.slots == nil {
		return nil
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := &t.slots[i]
		if e.hash == h {
			return e
		}
		if e.hash == emptyHash {
			return nil
		}
	}
}

// needsGrow reports whether the next insert resizes the table.
func (t *table) needsGrow() bool { return t.slots == nil || (t.n+1)*4 > len(t.slots)*3 }

// growBytes is what that resize allocates.
func (t *table) growBytes() int64 {
	if t.slots == nil {
		return minTableSize * 32
	}
	return int64(len(t.slots)) * 2 * 32
}

// insert adds a series that is not present.
func (t *table) insert(sr series) {
	if t.slots == nil {
		t.init(minTableSize)
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots) * 2)
	}
	t.put(sr)
	t.n++
}

func (t *table) put(sr series) {
	for i := sr.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].hash == emptyHash {
			t.slots[i] = sr
			return
		}
	}
}

func (t *table) resize(size int) {
	old := t.slots
	t.slots = make([]series, size)
	t.mask = uint64(size - 1)
	for i := range old {
		if old[i].hash != emptyHash {
			t.put(old[i])
		}
	}
}

// deleteAt empties slot i and shifts later members of its cluster back so
// lookups never stop early at the hole.
func (t *table) deleteAt(i uint64) {
	t.n--
	for {
		t.slots[i] = series{}
		j := i
		for {
			j = (j + 1) & t.mask
			e := &t.slots[j]
			if e.hash == emptyHash {
				return
			}
			home := e.hash & t.mask
			// Move e into the hole unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.slots[i] = *e
				i = j
				break
			}
		}
	}
}

// sweep deletes the series for which expired returns true, calling it once
// per live slot at least (a slot may be visited twice when a cluster wraps).
func (t *table) sweep(expired func(*series) bool) int {
	removed := 0
	for i := 0; i < len(t.slots); {
		e := &t.slots[i]
		if e.hash != emptyHash && expired(e) {
			t.deleteAt(uint64(i))
			removed++
			continue // re-check: a later series may have moved here
		}
		i++
	}
	if t.n*8 < len(t.slots) && len(t.slots) > minTableSize {
		size := len(t.slots)
		for size > minTableSize && t.n*8 < size {
			size /= 2
		}
		t.resize(size)
	}
	return removed
}
