package anomaly

import "math"

// forest is an online isolation forest: a fixed number of small trees built
// from a random sample of a sliding window of feature vectors, rebuilt every
// Rebuild points. A point that few random splits isolate is unusual in the
// combination of its features (value, change, seasonal residual) even when
// no single feature is extreme.
type forest struct {
	Win     []feature // ring of recent feature vectors
	Next    int
	Full    bool
	Trees   [][]node
	Since   int // points since the last rebuild
	Rebuild int
	Sample  int
	RNG     uint64 // splitmix64 state, kept so a restored forest rebuilds identically
}

const numFeatures = 3

type feature [numFeatures]float64

// node is a split (Left > 0) or a leaf holding how many sample points reached it.
type node struct {
	Feat        int8
	Split       float64
	Left, Right int32
	Size        int32
}

const (
	numTrees      = 32
	forestWindow  = 256
	forestSample  = 128
	forestRebuild = 64
)

func newForest(seed uint64) forest {
	return forest{
		Win:     make([]feature, forestWindow),
		Rebuild: forestRebuild,
		Sample:  forestSample,
		RNG:     seed,
	}
}

func (f *forest) rand() uint64 {
	f.RNG += 0x9e3779b97f4a7c15
	z := f.RNG
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (f *forest) float() float64 { return float64(f.rand()>>11) / (1 << 53) }

func (f *forest) size() int {
	if f.Full {
		return len(f.Win)
	}
	return f.Next
}

// observe scores x against the current trees (0 before the first build),
// then adds it to the window and rebuilds when due.
func (f *forest) observe(x feature) float64 {
	var s float64
	if len(f.Trees) > 0 {
		s = f.score(x)
	}
	f.Win[f.Next] = x
	f.Next++
	if f.Next == len(f.Win) {
		f.Next, f.Full = 0, true
	}
	f.Since++
	if f.Since >= f.Rebuild && f.size() >= f.Sample {
		f.build()
		f.Since = 0
	}
	return s
}

func (f *forest) build() {
	n := f.size()
	maxDepth := int(math.Ceil(math.Log2(float64(f.Sample))))
	if len(f.Trees) != numTrees {
		f.Trees = make([][]node, numTrees)
	}
	idx := make([]int, f.Sample)
	for t := range f.Trees {
		for i := range idx {
			idx[i] = int(f.rand() % uint64(n))
		}
		f.Trees[t] = f.grow(f.Trees[t][:0], idx, 0, maxDepth)
	}
}

// grow appends the subtree isolating the points idx and returns the tree.
func (f *forest) grow(tree []node, idx []int, depth, maxDepth int) []node {
	me := len(tree)
	tree = append(tree, node{Size: int32(len(idx))})
	if depth >= maxDepth || len(idx) <= 1 {
		return tree
	}
	// Pick a feature with spread; a constant feature cannot split.
	for range numFeatures {
		k := int(f.rand() % numFeatures)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, i := range idx {
			v := f.Win[i][k]
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if !(hi > lo) || math.IsInf(hi-lo, 0) {
			continue
		}
		split := lo + f.float()*(hi-lo)
		// Partition idx in place: left part < split.
		l := 0
		for j, i := range idx {
			if f.Win[i][k] < split {
				idx[l], idx[j] = idx[j], idx[l]
				l++
			}
		}
		if l == 0 || l == len(idx) {
			continue
		}
		tree[me].Feat, tree[me].Split = int8(k), split
		tree[me].Left = int32(len(tree))
		tree = f.grow(tree, idx[:l], depth+1, maxDepth)
		tree[me].Right = int32(len(tree))
		return f.grow(tree, idx[l:], depth+1, maxDepth)
	}
	return tree
}

// score is the isolation forest anomaly score 2^(-E[h]/c(n)) rescaled so that
// typical points (about 0.5) map to 0 and isolated ones approach 1.
func (f *forest) score(x feature) float64 {
	var total float64
	for _, tree := range f.Trees {
		i, depth := int32(0), 0
		for tree[i].Left > 0 {
			if x[tree[i].Feat] < tree[i].Split {
				i = tree[i].Left
			} else {
				i = tree[i].Right
			}
			depth++
		}
		total += float64(depth) + leafPath[min(int(tree[i].Size), forestSample)]
	}
	s := math.Pow(2, -total/float64(len(f.Trees))/avgPath(f.Sample))
	return clamp01((s - forestLow) / forestSpan)
}

// The raw iForest score of ordinary points sits near 0.5; forestLow and
// forestSpan place 0 and 1 of the rescaled score.
const (
	forestLow  = 0.6
	forestSpan = 0.2
)

// leafPath caches avgPath for every leaf size, a log per tree per point otherwise.
var leafPath = func() (c [forestSample + 1]float64) {
	for n := range c {
		c[n] = avgPath(n)
	}
	return c
}()

// avgPath is c(n), the average path length of an unsuccessful binary search
// tree lookup among n points.
func avgPath(n int) float64 {
	if n <= 1 {
		return 0
	}
	if n == 2 {
		return 1
	}
	h := math.Log(float64(n-1)) + 0.5772156649
	return 2*h - 2*float64(n-1)/float64(n)
}
