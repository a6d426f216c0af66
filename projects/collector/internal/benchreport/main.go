// Command benchreport reads the output of `make bench` rounds (one file of
// `go test -bench` output per round) and prints, per processor and size, the
// median cost per datapoint and the median ratio of the upstream transform
// processor's cost to it, each ratio taken within one round: on a shared
// machine the neighbours' load moves both sides of a round together, while
// rounds minutes apart differ by 20 % or more.
//
// It exits 1 when a Phoenix processor's median exceeds -max cpu-ns/dp or
// its median ratio is below -min-ratio, so `make bench` fails on a missed
// target.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// baselinePkg is the package of the upstream transform benchmark.
const baselinePkg = "transformbaseline"

func main() {
	maxNS := flag.Float64("max", 200, "target: the highest median cpu-ns/dp a Phoenix processor may cost")
	minRatio := flag.Float64("min-ratio", 0, "target: the lowest median ratio transform/processor (0: report only)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchreport [-max N] [-min-ratio R] ROUND_FILE...")
		os.Exit(2)
	}
	var rounds []round
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
			os.Exit(2)
		}
		r, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s: %v\n", name, err)
			os.Exit(2)
		}
		rounds = append(rounds, r)
	}
	rows := summarize(rounds)
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no benchmark results with cpu-ns/dp in the input")
		os.Exit(2)
	}
	if !report(os.Stdout, rows, len(rounds), *maxNS, *minRatio) {
		os.Exit(1)
	}
}

// result is one benchmark line's figures.
type result struct {
	cpu, wall float64 // cpu-ns/dp and ns/dp; 0 when absent
}

// round maps "package/Benchmark/sub" (without the -GOMAXPROCS suffix) to its
// result in one round.
type round map[string]result

// parse reads `go test -bench` output: "pkg:" lines name the package of the
// benchmark lines that follow.
func parse(r io.Reader) (round, error) {
	out := round{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndexByte(p, '/')+1:]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		var res result
		for i := 2; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "cpu-ns/dp":
				res.cpu = v
			case "ns/dp":
				res.wall = v
			}
		}
		if res.cpu > 0 {
			out[pkg+"/"+name] = res
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return out, nil
}

// row is one processor benchmark's summary over the rounds.
type row struct {
	name      string
	cpu, wall []float64
	ratio     []float64 // transform cpu / this cpu, per round with both
	baseline  bool
}

// size is the "entities=N" part of a benchmark name, "" when absent.
func size(name string) string {
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, "entities=") {
			return part
		}
	}
	return ""
}

func summarize(rounds []round) []*row {
	byName := map[string]*row{}
	for _, r := range rounds {
		base := map[string]float64{}
		for name, res := range r {
			if strings.HasPrefix(name, baselinePkg+"/BenchmarkUpstreamTransform") {
				base[size(name)] = res.cpu
			}
		}
		for name, res := range r {
			w := byName[name]
			if w == nil {
				w = &row{name: name, baseline: strings.HasPrefix(name, baselinePkg+"/")}
				byName[name] = w
			}
			w.cpu = append(w.cpu, res.cpu)
			if res.wall > 0 {
				w.wall = append(w.wall, res.wall)
			}
			if b, ok := base[size(name)]; ok && !w.baseline {
				w.ratio = append(w.ratio, b/res.cpu)
			}
		}
	}
	rows := make([]*row, 0, len(byName))
	for _, w := range byName {
		rows = append(rows, w)
	}
	slices.SortFunc(rows, func(a, b *row) int { return strings.Compare(a.name, b.name) })
	return rows
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func span(v []float64, format string) string {
	if len(v) == 0 {
		return "unknown"
	}
	return fmt.Sprintf(format+"-"+format, slices.Min(v), slices.Max(v))
}

// report prints the table and reports whether every target holds.
func report(w io.Writer, rows []*row, nrounds int, maxNS, minRatio float64) bool {
	ok := true
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "benchmark (%d rounds)\tcpu-ns/dp median\trange\tns/dp median\tx transform median\trange\tverdict\n", nrounds)
	for _, r := range rows {
		verdict := ""
		ratio, ratioSpan := "-", "-"
		if !r.baseline {
			verdict = "ok"
			if len(r.ratio) > 0 {
				ratio, ratioSpan = fmt.Sprintf("%.1fx", median(r.ratio)), span(r.ratio, "%.1f")
			} else {
				ratio = "unknown"
			}
			if strings.Contains(r.name, "/BenchmarkProcess") {
				if median(r.cpu) > maxNS {
					verdict, ok = fmt.Sprintf("MISSED: over %.0f", maxNS), false
				} else if minRatio > 0 && (len(r.ratio) == 0 || median(r.ratio) < minRatio) {
					verdict, ok = fmt.Sprintf("MISSED: under %.1fx", minRatio), false
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%.0f\t%s\t%s\t%s\n", r.name, median(r.cpu), span(r.cpu, "%.0f"),
			median(r.wall), ratio, ratioSpan, verdict)
	}
	_ = tw.Flush()
	return ok
}
