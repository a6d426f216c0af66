package anomaly

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// synth builds a series of n points: a level of 100, a sine season of the
// given period and amplitude, Gaussian noise, and an optional change.
func synth(n, period int, amp, noise float64, change func(i int) float64) []float64 {
	rng := rand.New(rand.NewPCG(7, 11))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = 100 + rng.NormFloat64()*noise
		if period > 0 {
			xs[i] += amp * math.Sin(2*math.Pi*float64(i)/float64(period))
		}
		if change != nil {
			xs[i] += change(i)
		}
	}
	return xs
}

// labels runs a fresh ensemble over xs and returns the indices it labelled.
func labels(t *testing.T, s Settings, xs []float64) []int {
	t.Helper()
	e, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i, x := range xs {
		r := e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
		if r.Score < 0 || r.Score > 1 {
			t.Fatalf("point %d: score %v outside [0,1]", i, r.Score)
		}
		if r.Label {
			out = append(out, i)
		}
	}
	return out
}

func TestEnsembleSyntheticSeries(t *testing.T) {
	const n, at = 3000, 2000
	tests := []struct {
		name     string
		settings Settings
		xs       []float64
		// want: the first label must fall in [from, to]; from < 0 means
		// no label at all.
		from, to int
	}{
		{"seasonal alone raises nothing", Settings{}, synth(n, 48, 30, 1, nil), -1, -1},
		{"seasonal alone, season given", Settings{Season: 48}, synth(n, 48, 30, 1, nil), -1, -1},
		{"long season learned late raises nothing after", Settings{}, synth(n, 288, 30, 1, nil)[700:], -1, -1},
		{"noise alone raises nothing", Settings{}, synth(n, 0, 0, 1, nil), -1, -1},
		{"flat line raises nothing", Settings{}, synth(n, 0, 0, 0, nil), -1, -1},
		{"spike", Settings{}, synth(n, 48, 30, 1, func(i int) float64 {
			if i == at {
				return 25
			}
			return 0
		}), at, at},
		{"dip on a flat line", Settings{}, synth(n, 0, 0, 0, func(i int) float64 {
			if i == at {
				return -10
			}
			return 0
		}), at, at},
		{"level shift", Settings{}, synth(n, 48, 30, 1, func(i int) float64 {
			if i >= at {
				return 15
			}
			return 0
		}), at, at + 10},
		{"small level shift caught by CUSUM", Settings{}, synth(n, 48, 30, 1, func(i int) float64 {
			if i >= at {
				return 4
			}
			return 0
		}), at, at + 60},
		{"trend change", Settings{}, synth(n, 48, 30, 1, func(i int) float64 {
			if i >= at {
				return 0.1 * float64(i-at)
			}
			return 0
		}), at, at + 150},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := labels(t, tt.settings, tt.xs)
			if tt.from < 0 {
				if len(got) > 0 {
					t.Fatalf("labels at %v, want none", got)
				}
				return
			}
			if len(got) == 0 || got[0] < tt.from || got[0] > tt.to {
				t.Fatalf("labels at %v, want the first in [%d, %d]", got, tt.from, tt.to)
			}
		})
	}
}

func TestSeasonLearned(t *testing.T) {
	for _, period := range []int{12, 48, 288} {
		e, err := New(Settings{})
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range synth(1200, period, 30, 1, nil) {
			e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
		}
		if got := e.st.HW.Period; got != period {
			t.Errorf("period %d: learned %d", period, got)
		}
	}
	// A random walk has no season.
	e, _ := New(Settings{})
	rng := rand.New(rand.NewPCG(1, 2))
	x := 0.0
	for i := range 1200 {
		x += rng.NormFloat64()
		e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
	}
	if got := e.st.HW.Period; got != -1 {
		t.Errorf("random walk: learned period %d, want none (-1)", got)
	}
}

// TestRefractory: one incident raises one label; -1 labels every point.
func TestRefractory(t *testing.T) {
	xs := synth(1500, 0, 0, 1, func(i int) float64 {
		if i >= 1000 && i < 1005 {
			return 50
		}
		return 0
	})
	if got := labels(t, Settings{}, xs); len(got) != 1 || got[0] != 1000 {
		t.Fatalf("default refractory: labels %v, want [1000]", got)
	}
	if got := labels(t, Settings{Refractory: -1}, xs); len(got) < 5 {
		t.Fatalf("no refractory: labels %v, want at least 1000..1004", got)
	}
}

// TestMaxTail: when high scores are common in a series (bursts at random,
// about one point in 10), most stop raising anomalies; on the threshold alone
// they all go on.
func TestMaxTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	bursts := make([]bool, 4000)
	for i := range bursts {
		bursts[i] = rng.IntN(10) == 0
	}
	xs := synth(4000, 0, 0, 1, func(i int) float64 {
		if bursts[i] {
			return 30
		}
		return 0
	})
	late := func(ls []int) int {
		n := 0
		for _, i := range ls {
			if i >= 3000 {
				n++
			}
		}
		return n
	}
	tailed := late(labels(t, Settings{Refractory: -1}, xs))
	plain := late(labels(t, Settings{Refractory: -1, MaxTail: 1}, xs))
	// About 100 bursts after point 3000 all reach the threshold; only the
	// few that score in the top 3% of the series' own scores remain.
	if plain < 80 || tailed > plain/3 {
		t.Fatalf("labels after point 3000: %d with the default max tail, %d on the threshold alone; want under a third", tailed, plain)
	}
}

// TestSnapshotRestore: stopping mid-series, encoding, decoding into a new
// ensemble and going on gives exactly the scores of an uninterrupted run,
// before the season is learned, after, and once the forest is built.
func TestSnapshotRestore(t *testing.T) {
	xs := synth(2500, 48, 30, 1, func(i int) float64 {
		if i == 1800 {
			return 40
		}
		return 0
	})
	ref, _ := New(Settings{})
	want := make([]Result, len(xs))
	for i, x := range xs {
		want[i] = ref.Observe(t0.Add(time.Duration(i)*time.Minute), x)
	}
	for _, cut := range []int{0, 10, 150, 199, 700, 1799, 2400} {
		e, _ := New(Settings{})
		for i, x := range xs[:cut] {
			e.Observe(t0.Add(time.Duration(i)*time.Minute), x)
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var restored Ensemble
		if err := restored.UnmarshalBinary(b); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for i := cut; i < len(xs); i++ {
			got := restored.Observe(t0.Add(time.Duration(i)*time.Minute), xs[i])
			if got != want[i] {
				t.Fatalf("cut %d, point %d: %+v after restore, %+v uninterrupted", cut, i, got, want[i])
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	e, _ := New(Settings{})
	for i := range 600 {
		e.Observe(t0.Add(time.Duration(i)*time.Minute), float64(i%17))
	}
	good, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	badWindow := *e
	badWindow.st.RZ.Win.Buf = badWindow.st.RZ.Win.Buf[:10]
	shortWin, _ := badWindow.MarshalBinary()
	// withTree replaces the first of the 32 trees.
	withTree := func(tree []node) Ensemble {
		c := *e
		c.st.IF.Trees = append([][]node{tree}, e.st.IF.Trees[1:]...)
		return c
	}
	if len(e.st.IF.Trees) != numTrees {
		t.Fatalf("forest not built: %d trees", len(e.st.IF.Trees))
	}
	badTree := withTree([]node{{Left: 5, Right: 6}})
	tree, _ := badTree.MarshalBinary()
	badCUSUM := *e
	badCUSUM.st.CS.H = 0
	cs, _ := badCUSUM.MarshalBinary()
	badLeaf := withTree([]node{{Size: -3}})
	fewTrees := *e
	fewTrees.st.IF.Trees = fewTrees.st.IF.Trees[:1]
	few, _ := fewTrees.MarshalBinary()
	leaf, _ := badLeaf.MarshalBinary()
	badSeason := *e
	badSeason.st.HW.Period, badSeason.st.HW.Season = 48, make([]float64, 12)
	season, _ := badSeason.MarshalBinary()
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "decode anomaly state"},
		"garbage":   {[]byte("not a state"), "decode anomaly state"},
		"truncated": {good[:len(good)/2], "decode anomaly state"},
		"window":    {shortWin, "robust window"},
		"tree":      {tree, "bad node"},
		"trees":     {few, "1 trees"},
		"cusum":     {cs, "cusum"},
		"leaf":      {leaf, "leaf"},
		"season":    {season, "season"},
	} {
		var d Ensemble
		err := d.UnmarshalBinary(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		s    Settings
		want []string
	}{
		{Settings{}, nil},
		{Settings{Window: 64, Season: -1, Threshold: 0.8, Refractory: -1}, nil},
		{Settings{Window: 8}, []string{"window"}},
		{Settings{MaxTail: 1.5}, []string{"max_tail"}},
		{Settings{Window: 1 << 20, Threshold: 2}, []string{"window", "threshold"}},
		{Settings{Season: 100000, LearnPoints: -1, Threshold: math.NaN()}, []string{"season", "learn_points", "threshold"}},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%+v: %v", tt.s, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: accepted", tt.s)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v lacks %q", tt.s, err, w)
			}
		}
		if _, err := New(tt.s); err == nil {
			t.Errorf("New(%+v) accepted", tt.s)
		}
	}
}

func TestNonFiniteAndDisorder(t *testing.T) {
	e, _ := New(Settings{})
	for i := range 300 {
		e.Observe(t0.Add(time.Duration(i)*time.Minute), 10)
	}
	before, _ := e.MarshalBinary()
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if r := e.Observe(t0.Add(time.Hour*10), v); r != (Result{}) {
			t.Fatalf("%v: %+v, want zero result", v, r)
		}
	}
	after, _ := e.MarshalBinary()
	// Only the skip counter may differ.
	var a, b Ensemble
	_ = a.UnmarshalBinary(before)
	_ = b.UnmarshalBinary(after)
	if b.Stats().Skipped != 3 {
		t.Fatalf("skipped = %d, want 3", b.Stats().Skipped)
	}
	b.st.Skipped = 0
	if x, y := a.Observe(t0, 10), b.Observe(t0, 10); x != y {
		t.Fatalf("non-finite values changed the state: %+v vs %+v", x, y)
	}
	if got := b.Stats().Unsorted; got != 1 {
		t.Fatalf("unsorted = %d, want 1 (t0 is before the last point)", got)
	}
}
