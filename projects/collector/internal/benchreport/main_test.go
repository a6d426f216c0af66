package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func load(t *testing.T, names ...string) []round {
	t.Helper()
	var rounds []round
	for _, n := range names {
		f, err := os.Open("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		rounds = append(rounds, r)
	}
	return rounds
}

func TestParse(t *testing.T) {
	r := load(t, "round1.txt")[0]
	want := map[string]result{
		"aggregateprocessor/BenchmarkProcess/entities=10000":           {cpu: 100, wall: 144.2},
		"aggregateprocessor/BenchmarkProcess/entities=100000":          {cpu: 150, wall: 138.2},
		"transformbaseline/BenchmarkReadFloor/entities=10000":          {cpu: 30, wall: 62.08},
		"transformbaseline/BenchmarkUpstreamTransform/entities=10000":  {cpu: 300, wall: 313.1},
		"transformbaseline/BenchmarkUpstreamTransform/entities=100000": {cpu: 300, wall: 286.7},
	}
	if len(r) != len(want) {
		t.Fatalf("parsed %d results, want %d: %v", len(r), len(want), r)
	}
	for k, w := range want {
		if r[k] != w {
			t.Errorf("%s: %+v, want %+v", k, r[k], w)
		}
	}
}

// TestReport: ratios are taken within a round, medians across rounds, and
// the verdicts follow the targets.
func TestReport(t *testing.T) {
	rounds := load(t, "round1.txt", "round2.txt")
	tests := []struct {
		name     string
		max      float64
		minRatio float64
		ok       bool
		contains []string
	}{
		// aggregate 10k: 100 and 250 against 300 and 200 -> ratios 3.0 and 0.8.
		{"targets hold", 200, 0, true, []string{"175", "1.9x", "0.8-3.0", "2.5x"}},
		{"over the ns target", 150, 0, false, []string{"MISSED: over 150"}},
		{"under the ratio target", 200, 2, false, []string{"MISSED: under 2.0x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			ok := report(&buf, summarize(rounds), len(rounds), tt.max, tt.minRatio)
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v\n%s", ok, tt.ok, buf.String())
			}
			for _, c := range tt.contains {
				if !strings.Contains(buf.String(), c) {
					t.Errorf("report lacks %q:\n%s", c, buf.String())
				}
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/round1.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("pkg: x\nBenchmarkX-2 1 2 ns/op 3 cpu-ns/dp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, res := range r {
			if res.cpu <= 0 {
				t.Fatalf("%s kept without cpu-ns/dp", name)
			}
		}
		var buf bytes.Buffer
		report(&buf, summarize([]round{r, r}), 2, 200, 1)
	})
}
