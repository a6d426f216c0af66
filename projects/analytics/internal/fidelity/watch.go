package fidelity

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/phoenix-platform/phoenix/projects/analytics/internal/cardinality"
)

// WatchLimits bound what the Watcher holds. Zero fields take defaults.
type WatchLimits struct {
	MaxWatches  int           // watched (stream, aggregate) pairs; more are refused and counted
	MaxPerOwner int           // watches one caller may start (internal callers are exempt), so one viewer cannot take them all
	MaxWindows  int           // windows kept per watch, oldest dropped first
	MaxGroups   int           // groups per window; a wider window is kept without values
	MaxValues   int           // group values per watch over all its windows, oldest windows dropped first
	Idle        time.Duration // a watch no comparison asked for in this long is dropped
}

// DefaultWatchLimits: 64 watches, each at most an hour of 10 s windows
// (360) and 36,000 group values (an hour of 100 groups, or 36 windows of
// 1000). A group value costs about 24 bytes plus its key, which windows of
// one watch share, so the watcher holds some 55 MB at worst.
func DefaultWatchLimits() WatchLimits {
	return WatchLimits{MaxWatches: 64, MaxPerOwner: 16, MaxWindows: 360, MaxGroups: 1000, MaxValues: 36_000, Idle: 6 * time.Hour}
}

// Refusal reasons counted by Watcher.Refused.
const (
	RefusedWatchLimit = "watch_limit"
	RefusedOwnerLimit = "owner_limit"
)

// Watcher evaluates watched aggregates on every rollup tick, per stream,
// and keeps each one's recent values per window and group, so a comparison
// can report the aggregate error window by window rather than on the
// latest values only. A comparison watches its aggregates on both streams
// (Watch); the service calls Sample on its rollup tick.
//
// A window's value is the aggregate as of the window's end over the
// stream's series still reporting: the latest value of each active series
// seen within 1.5 times its own reporting interval (cadence.go). A series
// that stops reporting (an exited process, one a top-K candidate rolled
// into `_other_`) stops counting after about one interval, not after the
// tracker's staleness window.
type Watcher struct {
	mu       sync.Mutex
	limits   WatchLimits
	watches  map[watchKey]*watch
	lastTick time.Time
	refused  map[string]int64
}

type watchKey struct{ stream, expr string }

type watch struct {
	owner     string // who started it ("" for internal callers)
	ag        Aggregate
	created   time.Time
	requested time.Time // last comparison asking for it
	windows   []window  // oldest first
	values    int       // group values held over windows
	// query is set for a query watch (ag is then empty); only Sample,
	// which runs on one goroutine, touches it after it is set.
	query *queryState
	cad   cadence // series' reporting intervals (aggregate watches), touched only by Sample
}

// windowState says whether a window holds values.
type windowState uint8

const (
	windowOK      windowState = iota
	windowTooWide             // more groups than MaxGroups
	windowPartial             // the stream had series past the exact bound, held without values
)

// window is one tick's evaluation; keys and vals are written once and
// then only read, so answers share them.
type window struct {
	start, end time.Time
	state      windowState
	groups     groupValues
}

// groupValues are an aggregate's values per group, sorted by key.
type groupValues struct {
	keys []string
	vals []float64
}

func (g groupValues) find(k string) (float64, bool) {
	i, ok := slices.BinarySearch(g.keys, k)
	if !ok {
		return 0, false
	}
	return g.vals[i], true
}

// sortedGroups turns evalAggregate's map into sorted groupValues, reusing
// the key strings of prev where equal so windows share them.
func sortedGroups(m map[string]float64, prev groupValues) groupValues {
	g := groupValues{keys: make([]string, 0, len(m)), vals: make([]float64, 0, len(m))}
	for k := range m {
		if i, ok := slices.BinarySearch(prev.keys, k); ok {
			k = prev.keys[i]
		}
		g.keys = append(g.keys, k)
	}
	slices.Sort(g.keys)
	for _, k := range g.keys {
		g.vals = append(g.vals, m[k])
	}
	return g
}

// NewWatcher returns an empty watcher; zero limits take defaults.
func NewWatcher(l WatchLimits) *Watcher {
	d := DefaultWatchLimits()
	if l.MaxWatches <= 0 {
		l.MaxWatches = d.MaxWatches
	}
	if l.MaxPerOwner <= 0 {
		l.MaxPerOwner = d.MaxPerOwner
	}
	if l.MaxWindows <= 0 {
		l.MaxWindows = d.MaxWindows
	}
	if l.MaxGroups <= 0 {
		l.MaxGroups = d.MaxGroups
	}
	if l.MaxValues <= 0 {
		l.MaxValues = d.MaxValues
	}
	l.MaxValues = max(l.MaxValues, l.MaxGroups) // one full window always fits
	if l.Idle <= 0 {
		l.Idle = d.Idle
	}
	return &Watcher{limits: l, watches: map[watchKey]*watch{}, refused: map[string]int64{}}
}

// Limits returns the limits in force.
func (w *Watcher) Limits() WatchLimits { return w.limits }

// Len returns the number of watches.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watches)
}

// Refused counts what the watcher did not watch, by reason.
func (w *Watcher) Refused() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int64, len(w.refused))
	for k, v := range w.refused {
		out[k] = v
	}
	return out
}

// expireLocked drops watches no comparison asked for within Idle.
func (w *Watcher) expireLocked(now time.Time) {
	for k, wt := range w.watches {
		if now.Sub(wt.requested) > w.limits.Idle {
			delete(w.watches, k)
		}
	}
}

// Watch starts (or keeps) evaluating ag, written expr, on stream at every
// tick, for an internal caller. It is refused, and counted, when
// MaxWatches are watched already; the reason says so.
func (w *Watcher) Watch(now time.Time, stream, expr string, ag Aggregate) (bool, string) {
	return w.WatchAs(now, "", stream, expr, ag)
}

// WatchAs is Watch on behalf of owner (a user or API key), who may start at
// most MaxPerOwner watches: any viewer may compare streams that do not
// exist yet, and without this one could take every watch.
func (w *Watcher) WatchAs(now time.Time, owner, stream, expr string, ag Aggregate) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := watchKey{stream, expr}
	if wt := w.watches[k]; wt != nil {
		wt.requested = now
		return true, ""
	}
	if len(w.watches) >= w.limits.MaxWatches || owner != "" && w.ownedLocked(owner) >= w.limits.MaxPerOwner {
		w.expireLocked(now)
	}
	if len(w.watches) >= w.limits.MaxWatches {
		w.refused[RefusedWatchLimit]++
		return false, fmt.Sprintf("not recorded per window: %d aggregates are watched already", w.limits.MaxWatches)
	}
	if owner != "" && w.ownedLocked(owner) >= w.limits.MaxPerOwner {
		w.refused[RefusedOwnerLimit]++
		return false, fmt.Sprintf("not recorded per window: this caller started %d watched aggregates already (they expire after %s unasked)", w.limits.MaxPerOwner, w.limits.Idle)
	}
	w.watches[k] = &watch{owner: owner, ag: ag, created: now, requested: now, cad: cadence{}}
	return true, ""
}

// ownedLocked counts owner's watches (a few dozen at most).
func (w *Watcher) ownedLocked(owner string) int {
	n := 0
	for _, wt := range w.watches {
		if wt.owner == owner {
			n++
		}
	}
	return n
}

// Sample evaluates every watch whose stream is among streams, as of now,
// and drops idle watches. Streams are read one at a time, each once for
// all its watches, and only the watched metrics' series are copied.
func (w *Watcher) Sample(now time.Time, streams []*cardinality.Stream) {
	type job struct {
		wt   *watch
		prev groupValues
	}
	w.mu.Lock()
	w.expireLocked(now)
	byStream := map[string][]job{}
	for k, wt := range w.watches {
		var prev groupValues
		if n := len(wt.windows); n > 0 {
			prev = wt.windows[n-1].groups
		}
		byStream[k.stream] = append(byStream[k.stream], job{wt, prev})
	}
	lastTick := w.lastTick
	w.lastTick = now
	w.mu.Unlock()

	type result struct {
		wt *watch
		wn window
	}
	var results []result
	for _, st := range streams {
		jobs := byStream[st.Name()]
		if len(jobs) == 0 {
			continue
		}
		var metrics []string
		var meta *cardinality.Snapshot // the stream's metric names, for query watches
		for _, j := range jobs {
			if j.wt.query != nil {
				if meta == nil {
					meta = st.SnapshotMetrics(nil)
				}
				for _, mi := range meta.Metrics {
					if j.wt.query.queryName(mi) != "" && !slices.Contains(metrics, mi.Name) {
						metrics = append(metrics, mi.Name)
					}
				}
				continue
			}
			if !slices.Contains(metrics, j.wt.ag.Metric) {
				metrics = append(metrics, j.wt.ag.Metric)
			}
		}
		sn := st.SnapshotMetrics(metrics)
		for _, j := range jobs {
			start := j.wt.created
			if lastTick.After(start) {
				start = lastTick
			}
			wn := window{start: start, end: now}
			switch {
			case j.wt.query != nil:
				m, state, err := sampleQuery(j.wt.query, sn, now, w.limits.MaxGroups*10)
				switch {
				case err != nil:
					wn.state = windowTooWide
				case state != windowOK:
					wn.state = state
				case len(m) > w.limits.MaxGroups:
					wn.state = windowTooWide
				default:
					wn.groups = sortedGroups(m, j.prev)
				}
			case sn.Overflow > 0:
				wn.state = windowPartial
			default:
				m := evalAggregate(sn, j.wt.ag, j.wt.cad.freshFunc(sn, now, lastTick))
				if len(m) > w.limits.MaxGroups {
					wn.state = windowTooWide
				} else {
					wn.groups = sortedGroups(m, j.prev)
				}
			}
			results = append(results, result{j.wt, wn})
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range results {
		w.addLocked(r.wt, r.wn)
	}
}

// addLocked appends a window, dropping the oldest ones past the bounds.
func (w *Watcher) addLocked(wt *watch, wn window) {
	n := len(wn.groups.keys)
	drop := 0
	for drop < len(wt.windows) && (len(wt.windows)-drop >= w.limits.MaxWindows || wt.values+n > w.limits.MaxValues) {
		wt.values -= len(wt.windows[drop].groups.keys)
		drop++
	}
	if drop > 0 {
		clear(wt.windows[:drop]) // let dropped keys be collected
		wt.windows = slices.Delete(wt.windows, 0, drop)
	}
	wt.windows = append(wt.windows, wn)
	wt.values += n
}

// windowsOf returns stream's windows for expr whose end falls in
// [from, to] (zero bounds are open), and whether the pair is watched.
func (w *Watcher) windowsOf(stream, expr string, from, to time.Time) ([]window, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.watches[watchKey{stream, expr}]
	if wt == nil {
		return nil, false
	}
	lo := 0
	if !from.IsZero() {
		lo = sort.Search(len(wt.windows), func(i int) bool { return !wt.windows[i].end.Before(from) })
	}
	hi := len(wt.windows)
	if !to.IsZero() {
		hi = sort.Search(len(wt.windows), func(i int) bool { return wt.windows[i].end.After(to) })
	}
	if lo >= hi {
		return nil, true
	}
	return slices.Clone(wt.windows[lo:hi]), true
}
