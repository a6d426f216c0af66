package cardinality

// table is an open-addressing hash table of series keyed by their 64-bit
// identity hash, with linear probing. The hash is already well mixed, so it
// indexes the table directly. Each slot is split in two parallel arrays:
// the 16-byte hot part a datapoint touches (hash, last seen, value) and the
// 12-byte cold part only new series, sweeps and reports read (metric and
// label-set ids). A datapoint costs one cache miss into a table half the
// size it would be whole. Load stays at most 3/4, so a series costs 28/load
// bytes: 37 to 75.
type table struct {
	hot  []hotSlot
	cold []coldSlot
	mask uint64
	n    int
}

type hotSlot struct {
	hash  uint64  // emptyHash when the slot is free
	last  uint32  // tracker seconds
	value float32 // last value (aggregates in comparisons; float32 is plenty for relative errors)
}

type coldSlot struct {
	metric uint32
	res    uint32 // label set ids
	dp     uint32
}

// series is a whole slot, as inserted and as sweeps and snapshots see it.
type series struct {
	hash   uint64
	value  float64
	metric uint32
	res    uint32
	dp     uint32
	last   uint32
}

const minTableSize = 1024

// slotBytes is what one slot costs.
const slotBytes = 28

// emptyHash marks an empty slot; a series whose hash is 0 is stored as 1.
const emptyHash = 0

func fixHash(h uint64) uint64 {
	if h == emptyHash {
		return 1
	}
	return h
}

func (t *table) init(size int) {
	t.hot = make([]hotSlot, size)
	t.cold = make([]coldSlot, size)
	t.mask = uint64(size - 1)
	t.n = 0
}

// find returns the slot index holding h, or -1.
func (t *table) find(h uint64) int {
	if t.hot == nil {
		return -1
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := &t.hot[i]
		if e.hash == h {
			return int(i)
		}
		if e.hash == emptyHash {
			return -1
		}
	}
}

// at returns slot i whole.
func (t *table) at(i int) series {
	h, c := &t.hot[i], &t.cold[i]
	return series{hash: h.hash, value: float64(h.value), last: h.last, metric: c.metric, res: c.res, dp: c.dp}
}

// needsGrow reports whether the next insert resizes the table.
func (t *table) needsGrow() bool { return t.hot == nil || (t.n+1)*4 > len(t.hot)*3 }

// growBytes is what that resize allocates.
func (t *table) growBytes() int64 {
	if t.hot == nil {
		return minTableSize * slotBytes
	}
	return int64(len(t.hot)) * 2 * slotBytes
}

// insert adds a series that is not present.
func (t *table) insert(sr series) {
	if t.hot == nil {
		t.init(minTableSize)
	}
	if (t.n+1)*4 > len(t.hot)*3 {
		t.resize(len(t.hot) * 2)
	}
	t.put(hotSlot{hash: sr.hash, last: sr.last, value: float32(sr.value)}, coldSlot{metric: sr.metric, res: sr.res, dp: sr.dp})
	t.n++
}

func (t *table) put(h hotSlot, c coldSlot) {
	for i := h.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.hot[i].hash == emptyHash {
			t.hot[i], t.cold[i] = h, c
			return
		}
	}
}

func (t *table) resize(size int) {
	oh, oc := t.hot, t.cold
	t.hot = make([]hotSlot, size)
	t.cold = make([]coldSlot, size)
	t.mask = uint64(size - 1)
	for i := range oh {
		if oh[i].hash != emptyHash {
			t.put(oh[i], oc[i])
		}
	}
}

// deleteAt empties slot i and shifts later members of its cluster back so
// lookups never stop early at the hole.
func (t *table) deleteAt(i uint64) {
	t.n--
	for {
		t.hot[i], t.cold[i] = hotSlot{}, coldSlot{}
		j := i
		for {
			j = (j + 1) & t.mask
			e := &t.hot[j]
			if e.hash == emptyHash {
				return
			}
			home := e.hash & t.mask
			// Move e into the hole unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.hot[i], t.cold[i] = *e, t.cold[j]
				i = j
				break
			}
		}
	}
}

// sweep deletes the series for which expired returns true, calling it once
// per live slot at least (a slot may be visited twice when a cluster wraps).
func (t *table) sweep(expired func(series) bool) int {
	removed := 0
	for i := 0; i < len(t.hot); {
		if t.hot[i].hash != emptyHash && expired(t.at(i)) {
			t.deleteAt(uint64(i))
			removed++
			continue // re-check: a later series may have moved here
		}
		i++
	}
	if t.n*8 < len(t.hot) && len(t.hot) > minTableSize {
		size := len(t.hot)
		for size > minTableSize && t.n*8 < size {
			size /= 2
		}
		t.resize(size)
	}
	return removed
}
