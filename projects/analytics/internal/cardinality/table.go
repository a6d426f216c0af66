package cardinality

// table holds a stream's series. The series themselves sit in two dense,
// parallel arrays in the order they first arrived: the 16-byte hot part a
// datapoint touches (hash, last seen, value) and the 12-byte cold part only
// new series, sweeps and reports read (metric and label-set ids). An
// open-addressing index (linear probing on the series' 64-bit identity
// hash, which is already well mixed) maps a hash to its position.
//
// Why dense and in arrival order: senders repeat their series in the same
// order on every export (a scrape walks the same processes and metrics), so
// the series after the one just seen is usually the next one in the array.
// Batch.finish checks that slot first: one compare in a cache line it has
// just touched or the next one, which the hardware prefetcher streams in.
// A plain hash table costs a cache miss per datapoint into a table bigger
// than the cache; see docs/decisions/0010-dense-series-table.md.
//
// Each index slot packs the top 32 bits of the hash (a tag) and position+1
// (0 marks an empty slot): 8 bytes at a load of at most 3/4. A series costs
// 28 bytes in the arrays (up to twice that while they have room to grow)
// plus 8/load in the index: about 39 to 67 bytes.
type table struct {
	hot   []hotSlot // by position; a removed series leaves a hole (hash emptyHash) until compaction
	cold  []coldSlot
	idx   []uint64
	mask  uint64
	n     int // live series
	holes int
}

type hotSlot struct {
	hash  uint64  // emptyHash for a hole
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

// minTableSize is the index size of a new table (and its arrays' capacity).
const minTableSize = 1024

// slotBytes is what one position costs in the dense arrays; idxBytes what
// one index slot costs.
const (
	slotBytes = 28
	idxBytes  = 8
)

// emptyHash marks a hole; a series whose hash is 0 is stored as 1.
const emptyHash = 0

func fixHash(h uint64) uint64 {
	if h == emptyHash {
		return 1
	}
	return h
}

func idxEntry(h uint64, pos int) uint64 { return h&^0xffffffff | uint64(pos+1) }

func entryPos(e uint64) int { return int(uint32(e)) - 1 }

func (t *table) init(size int) {
	t.hot = make([]hotSlot, 0, size)
	t.cold = make([]coldSlot, 0, size)
	t.idx = make([]uint64, size)
	t.mask = uint64(size - 1)
	t.n, t.holes = 0, 0
}

// find returns the position of h, or -1.
func (t *table) find(h uint64) int { return t.probe(h, true) }

// guess returns the position of the first index entry whose tag matches h
// without reading the arrays, or -1: the caller confirms it (hot[p].hash ==
// h) and falls back to find. It lets a warm-up pass start the array loads of
// many datapoints at once.
func (t *table) guess(h uint64) int { return t.probe(h, false) }

// probe walks h's cluster in the index to the first entry whose tag matches
// (and, when confirm is set, whose series is h).
func (t *table) probe(h uint64, confirm bool) int {
	if t.idx == nil {
		return -1
	}
	tag := h &^ 0xffffffff
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.idx[i]
		if e == 0 {
			return -1
		}
		if e&^0xffffffff == tag {
			if p := entryPos(e); !confirm || t.hot[p].hash == h {
				return p
			}
		}
	}
}

// at returns position i whole.
func (t *table) at(i int) series {
	h, c := &t.hot[i], &t.cold[i]
	return series{hash: h.hash, value: float64(h.value), last: h.last, metric: c.metric, res: c.res, dp: c.dp}
}

// needsGrow reports whether the next insert allocates (the arrays are full
// or the index would pass 3/4).
func (t *table) needsGrow() bool {
	return t.idx == nil || len(t.hot) == cap(t.hot) || (t.n+1)*4 > len(t.idx)*3
}

// growBytes is what that insert allocates.
func (t *table) growBytes() int64 {
	if t.idx == nil {
		return minTableSize * (slotBytes + idxBytes)
	}
	var b int64
	if len(t.hot) == cap(t.hot) && t.holes <= len(t.hot)/4 { // else compacted in place
		b += int64(cap(t.hot)) * 2 * slotBytes
	}
	if (t.n+1)*4 > len(t.idx)*3 {
		b += int64(len(t.idx)) * 2 * idxBytes
	}
	return b
}

// insert adds a series that is not present and returns its position.
func (t *table) insert(sr series) int {
	if t.idx == nil {
		t.init(minTableSize)
	}
	if (t.n+1)*4 > len(t.idx)*3 {
		t.reindex(len(t.idx) * 2)
	}
	if len(t.hot) == cap(t.hot) {
		if t.holes > len(t.hot)/4 {
			t.compact(cap(t.hot))
		} else {
			t.compact(2 * cap(t.hot))
		}
	}
	pos := len(t.hot)
	t.hot = append(t.hot, hotSlot{hash: sr.hash, last: sr.last, value: float32(sr.value)})
	t.cold = append(t.cold, coldSlot{metric: sr.metric, res: sr.res, dp: sr.dp})
	t.put(sr.hash, pos)
	t.n++
	return pos
}

func (t *table) put(h uint64, pos int) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if t.idx[i] == 0 {
			t.idx[i] = idxEntry(h, pos)
			return
		}
	}
}

// reindex rebuilds the index at size slots from the arrays.
func (t *table) reindex(size int) {
	if len(t.idx) == size {
		clear(t.idx)
	} else {
		t.idx = make([]uint64, size)
	}
	t.mask = uint64(size - 1)
	for p := range t.hot {
		if h := t.hot[p].hash; h != emptyHash {
			t.put(h, p)
		}
	}
}

// compact moves the live series down over the holes, keeping their order
// (the order is what makes the next series predictable), into arrays of
// the given capacity, and rebuilds the index.
func (t *table) compact(capacity int) {
	capacity = max(capacity, t.n, minTableSize)
	inPlace := capacity == cap(t.hot)
	hot, cold := t.hot[:0], t.cold[:0]
	if !inPlace {
		hot, cold = make([]hotSlot, 0, capacity), make([]coldSlot, 0, capacity)
	}
	for p := range t.hot {
		if t.hot[p].hash != emptyHash {
			// In place, a write never passes the read it copies.
			hot = append(hot, t.hot[p])
			cold = append(cold, t.cold[p])
		}
	}
	if inPlace {
		clear(t.hot[len(hot):])
		clear(t.cold[len(cold):])
	}
	t.hot, t.cold, t.holes = hot, cold, 0
	t.reindex(len(t.idx))
}

// unindex removes h (at pos) from the index, shifting later members of its
// cluster back so lookups never stop early at the hole.
func (t *table) unindex(h uint64, pos int) {
	want := idxEntry(h, pos)
	i := h & t.mask
	for t.idx[i] != want {
		i = (i + 1) & t.mask
	}
	for {
		t.idx[i] = 0
		j := i
		for {
			j = (j + 1) & t.mask
			e := t.idx[j]
			if e == 0 {
				return
			}
			home := t.hot[entryPos(e)].hash & t.mask
			// Move e into the hole unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.idx[i] = e
				i = j
				break
			}
		}
	}
}

// sweep deletes the series for which expired returns true, calling it once
// per live series, and compacts the arrays when holes take a quarter of them
// or the table has emptied to an eighth of its index.
func (t *table) sweep(expired func(series) bool) int {
	removed := 0
	for p := range t.hot {
		e := &t.hot[p]
		if e.hash == emptyHash || !expired(t.at(p)) {
			continue
		}
		t.unindex(e.hash, p)
		*e, t.cold[p] = hotSlot{}, coldSlot{}
		t.n--
		t.holes++
		removed++
	}
	if t.idx == nil {
		return removed
	}
	size := len(t.idx)
	for size > minTableSize && t.n*8 < size {
		size /= 2
	}
	switch {
	case size != len(t.idx):
		t.idx = make([]uint64, size)
		t.compact(t.n + t.n/4) // room to grow a little before the next doubling
	case t.holes > 0 && t.holes*4 > len(t.hot):
		t.compact(cap(t.hot))
	}
	return removed
}
