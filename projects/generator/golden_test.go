package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
	"github.com/phoenix-platform/phoenix/pkg/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from testdata/cases")

// goldenCases maps testdata/cases/<name>.json to testdata/golden/<name>.yaml.
func goldenCases(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	return files
}

func readCase(t *testing.T, path string) pipelinegen.Request {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r pipelinegen.Request
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func goldenPath(casePath string) string {
	return filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(casePath), ".json")+".yaml")
}

// TestGolden: every case generates exactly its golden file, twice over
// (deterministic output).
func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(filepath.Base(c), func(t *testing.T) {
			r := readCase(t, c)
			res, err := pipelinegen.Generate(r)
			if err != nil {
				t.Fatal(err)
			}
			again, err := pipelinegen.Generate(readCase(t, c))
			if err != nil || !bytes.Equal(res.Config, again.Config) {
				t.Fatalf("output is not deterministic (err %v)", err)
			}
			gp := goldenPath(c)
			if *update {
				if err := os.WriteFile(gp, res.Config, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Fatalf("read %s: %v (create with -update)", gp, err)
			}
			if !bytes.Equal(res.Config, want) {
				t.Fatalf("%s differs from the generated config (refresh with -update after review):\n%s", gp,
					pipelinegen.UnifiedDiff(gp, "generated", string(want), string(res.Config)))
			}
		})
	}
}

// TestGoldenNoStrays keeps testdata/golden exactly the cases' outputs: the
// collector module validates every file there.
func TestGoldenNoStrays(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*")
	cases := map[string]bool{}
	for _, c := range goldenCases(t) {
		cases[goldenPath(c)] = true
	}
	for _, f := range files {
		if !cases[f] {
			t.Errorf("%s has no case in testdata/cases", f)
		}
	}
}

// TestGoldenValidWithCollector loads every golden file with the real
// phoenix-collector.
func TestGoldenValidWithCollector(t *testing.T) {
	bin := collectortest.Bin(t)
	comps, err := exec.Command(bin, "components").Output()
	if err != nil {
		t.Fatalf("%s components: %v", bin, err)
	}
	v := pipelinegen.NewValidator(bin)
	for _, c := range goldenCases(t) {
		gp := goldenPath(c)
		t.Run(filepath.Base(gp), func(t *testing.T) {
			cfg, err := os.ReadFile(gp)
			if err != nil {
				t.Fatal(err)
			}
			if missing := missingPhoenixProcessors(cfg, comps); len(missing) > 0 {
				msg := bin + " lacks " + strings.Join(missing, ", ") + " (rebuild with `make build-collector`)"
				if testutil.InCI() {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			errs, err := v.Validate(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) > 0 {
				t.Fatalf("collector rejects %s: %v", gp, errs)
			}
		})
	}
}

// missingPhoenixProcessors names the Phoenix processors a config uses that
// the binary does not list.
func missingPhoenixProcessors(cfg, components []byte) []string {
	var missing []string
	for _, p := range []string{"phoenix_topk", "phoenix_cardinality_limit", "phoenix_aggregate"} {
		if bytes.Contains(cfg, []byte(p+"/")) && !bytes.Contains(components, []byte("name: "+p+"\n")) {
			missing = append(missing, p)
		}
	}
	return missing
}
