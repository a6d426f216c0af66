package experiment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// wantErrors reads the `# error: <path>: <message part>` header of a bad
// spec.
func wantErrors(t *testing.T, data []byte) []problem.FieldError {
	t.Helper()
	var out []problem.FieldError
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# error: ")
		if !ok {
			continue
		}
		// Paths never contain ": " but messages may.
		path, msg, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("malformed header line %q", line)
		}
		out = append(out, problem.FieldError{Path: path, Message: msg})
	}
	if len(out) == 0 {
		t.Fatal("a .bad file must list its errors in `# error: path: message` lines")
	}
	return out
}

func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) < 10 {
		t.Fatalf("bad specs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := wantErrors(t, data)
			e, err := Parse(data)
			if err == nil {
				t.Fatalf("accepted: %+v", e)
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("want a 400 problem, got %v", err)
			}
			got := p.Errors
			// Every wanted error is there, and nothing else.
			for _, w := range want {
				i := slices.IndexFunc(got, func(g problem.FieldError) bool {
					return g.Path == w.Path && strings.Contains(g.Message, w.Message)
				})
				if i < 0 {
					t.Errorf("missing error %s: %q", w.Path, w.Message)
					continue
				}
				got = slices.Delete(slices.Clone(got), i, i+1)
			}
			for _, g := range got {
				t.Errorf("unexpected error %s: %s", g.Path, g.Message)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.*")
	examples, _ := filepath.Glob("../../../../examples/experiments/*.yaml")
	if len(examples) < 2 || len(files) < 2 {
		t.Fatalf("good specs: %v, examples: %v", files, examples)
	}
	for _, f := range append(files, examples...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data := readExample(t, f)
			e, err := Parse(data)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			// A parsed spec survives its own JSON form (what the store
			// keeps and the API answers) unchanged.
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(b)
			if err != nil {
				t.Fatalf("JSON form refused: %v\n%s", err, b)
			}
			b2, _ := json.Marshal(again)
			if !bytes.Equal(b, b2) {
				t.Fatalf("JSON round trip changed the spec:\n%s\n%s", b, b2)
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	s := e.Spec
	checks := []struct {
		what string
		ok   bool
	}{
		{"name", e.Metadata.Name == "fleet-trim_2"},
		{"selector", s.Target.Selector["env"] == "prod" && s.Target.Selector["region"] == "eu-west-1"},
		{"baseline pipeline", s.Baseline.Pipeline == "prod-hosts@3"},
		{"candidates", len(s.Candidates) == 3 && s.Candidates[0].Set["critical"] == "nginx|postgres"},
		{"strategies", len(s.Candidates[1].Strategies) == 2 && s.Candidates[1].Strategies[1].Limit == 5000 &&
			s.Candidates[1].Strategies[1].NeverDrop[0] == "host.name"},
		{"warmup", s.Warmup.Std() == time.Minute},
		{"duration", s.Duration.Std() == 30*time.Minute},
		{"criteria", *s.Criteria.MinSeriesReductionPct == 30 && *s.Criteria.MinCostReductionPct == 0 &&
			*s.Criteria.MaxAggregateErrorPct == 5 && s.Criteria.PriceModel == "datadog"},
		{"on_success", s.OnSuccess == OnSuccessPromote},
		{"rollout", s.Rollout.Strategy == RolloutStaged && slices.Equal(s.Rollout.Steps, []int{10, 50, 100}) &&
			s.Rollout.Pause.Std() == 30*time.Second},
		{"stream", StreamID(e.Metadata.Name, s.Candidates[1].Name) == "fleet-trim_2--drop-pid"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s not decoded as written: %+v", c.what, e)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	data, _ := os.ReadFile("testdata/minimal.good.json")
	e, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if e.Spec.OnSuccess != OnSuccessWait || e.Spec.Rollout.Strategy != RolloutAll || e.Spec.Warmup != 0 {
		t.Errorf("defaults: on_success %q, rollout %q, warmup %v", e.Spec.OnSuccess, e.Spec.Rollout.Strategy, e.Spec.Warmup)
	}
}

func TestParseLimits(t *testing.T) {
	big := bytes.Repeat([]byte("#"), MaxSpecBytes+1)
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("oversized spec: %v", err)
	}
	// A spec full of unknown fields answers a bounded list.
	var b strings.Builder
	b.WriteString("apiVersion: phoenix.dev/v1alpha1\n")
	for i := range 500 {
		b.WriteString("unknown" + strconv.Itoa(i) + ": 1\n")
	}
	_, err := Parse([]byte(b.String()))
	p := problem.From(err)
	if len(p.Errors) != maxErrors {
		t.Errorf("got %d errors, want the bound %d", len(p.Errors), maxErrors)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	examples, _ := filepath.Glob("../../../../examples/experiments/*.yaml")
	for _, s := range append(seeds, examples...) {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			p := problem.From(err)
			if p.Status != 400 || len(p.Errors) == 0 {
				t.Fatalf("refusal must be a 400 listing errors: %v", err)
			}
			for _, fe := range p.Errors {
				if fe.Path == "" || fe.Message == "" {
					t.Fatalf("error without path or message: %+v", fe)
				}
			}
			return
		}
		// Whatever is accepted is valid, names fit stream ids, and the
		// JSON form parses to the same spec.
		if errs := e.Validate(); len(errs) > 0 {
			t.Fatalf("accepted an invalid spec: %v", errs)
		}
		for _, c := range e.Spec.Candidates {
			id := StreamID(e.Metadata.Name, c.Name)
			if len(id) > 130 || strings.Count(id, "--") < 1 {
				t.Fatalf("stream id %q", id)
			}
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("JSON form of an accepted spec refused: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(again)
		if !bytes.Equal(b, b2) {
			t.Fatalf("JSON round trip changed the spec:\n%s\n%s", b, b2)
		}
	})
}
