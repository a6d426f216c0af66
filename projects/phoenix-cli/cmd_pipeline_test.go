package phoenixcli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
)

func TestPipelineTemplatesOffline(t *testing.T) {
	out, _, err := runCLI(t, "pipeline", "templates", "-o", "json", "--api-url", "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Items []struct{ Name string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Items) != 5 {
		t.Fatalf("templates: %v %s", err, out)
	}
}

func TestPipelineGenerateOffline(t *testing.T) {
	out, _, err := runCLI(t, "pipeline", "generate", "--template", "balanced", "--set", "k=20", "--set", "cap=0", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "\n    k: 20\n") || strings.Contains(out, "phoenix_cardinality_limit") || !strings.HasPrefix(out, "receivers:\n") {
		t.Fatalf("unexpected config:\n%s", out)
	}
	again, _, _ := runCLI(t, "pipeline", "generate", "--template", "balanced", "--set", "k=20", "--set", "cap=0", "-o", "yaml")
	if again != out {
		t.Fatal("generate is not deterministic")
	}
	exp, _, err := runCLI(t, "pipeline", "generate", "--target", "experiment", "--experiment", "e1", "--template", "topk", "--candidate", "wide=balanced", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"metrics/baseline:", "metrics/candidate-a:", "metrics/wide:"} {
		if !strings.Contains(exp, p) {
			t.Errorf("experiment config lacks %s", p)
		}
	}
	if _, _, err := runCLI(t, "pipeline", "generate", "--template", "topk", "--set", "k=zero"); err == nil || !strings.Contains(err.Error(), "set.k") {
		t.Fatalf("bad --set: %v", err)
	}
	if _, _, err := runCLI(t, "pipeline", "generate", "--template", "topk", "--set", "novalue"); err == nil {
		t.Fatal("--set without = accepted")
	}
}

func TestPipelineValidateLocal(t *testing.T) {
	bin := collectortest.Bin(t)
	dir := t.TempDir()
	good, _, err := runCLI(t, "pipeline", "generate", "--template", "baseline", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	goodFile := filepath.Join(dir, "good.yaml")
	badFile := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(goodFile, []byte(good), 0o600)
	_ = os.WriteFile(badFile, []byte(strings.Replace(good, "limit_percentage: 80", "limit_percentage: 800", 1)), 0o600)
	out, _, err := runCLI(t, "pipeline", "validate", goodFile, "--collector-bin", bin)
	if err != nil || !strings.Contains(out, "valid") {
		t.Fatalf("good: %v %s", err, out)
	}
	_, _, err = runCLI(t, "pipeline", "validate", badFile, "--collector-bin", bin)
	if err == nil || !strings.Contains(err.Error(), "processors::memory_limiter") || !strings.Contains(err.Error(), "limit_percentage") {
		t.Fatalf("bad: %v", err)
	}
	// -o json: one document either way, the exit status says which.
	for _, c := range []struct {
		file     string
		valid    bool
		wantCode int
	}{{goodFile, true, 0}, {badFile, false, ExitFailed}} {
		out, _, err := runCLI(t, "pipeline", "validate", c.file, "--collector-bin", bin, "-o", "json")
		var res validateResult
		if jerr := json.Unmarshal([]byte(out), &res); jerr != nil {
			t.Fatalf("%s -o json is not JSON: %v\n%s", c.file, jerr, out)
		}
		if res.Valid != c.valid || res.File != c.file || !strings.HasPrefix(res.ConfigHash, "sha256:") || (len(res.Errors) == 0) != c.valid {
			t.Errorf("%s -o json: %+v", c.file, res)
		}
		if ExitCode(err) != c.wantCode {
			t.Errorf("%s -o json: exit %d (%v), want %d", c.file, ExitCode(err), err, c.wantCode)
		}
		if !c.valid && (res.Errors[0].Path != "processors::memory_limiter" || !strings.Contains(res.Errors[0].Message, "limit_percentage")) {
			t.Errorf("%s errors: %+v", c.file, res.Errors)
		}
	}
	// A collector that cannot run is no verdict: exit 3.
	_, _, err = runCLI(t, "pipeline", "validate", goodFile, "--collector-bin", filepath.Join(dir, "no-collector"), "-o", "json")
	if ExitCode(err) != ExitTrouble {
		t.Errorf("missing collector: exit %d (%v), want %d", ExitCode(err), err, ExitTrouble)
	}
}

func TestRecommendUploads(t *testing.T) {
	dir := t.TempDir()
	dash := filepath.Join(dir, "dash")
	_ = os.MkdirAll(filepath.Join(dash, "nested"), 0o700)
	_ = os.WriteFile(filepath.Join(dash, "nested", "a.json"), []byte(`{"panels":[]}`), 0o600)
	_ = os.WriteFile(filepath.Join(dash, "notes.txt"), []byte("ignored"), 0o600)
	var got struct {
		Stream     string         `json:"stream"`
		Model      string         `json:"model"`
		Dashboards []uploadedFile `json:"dashboards"`
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/v1/recommendations" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"stream":"s1","model":"datadog","active_series":10,"items":[{"id":"drop_metric:x","kind":"drop_metric","metric":"x","labels":[],"series_before":4,"series_after_estimate":0,"monthly_saving_estimate":1.5,"model":"datadog","risk":"low","reason":"unused"}],"unused_metrics":["x"],"used":{}}`)
	}))
	t.Cleanup(api.Close)
	out, _, err := runCLI(t, "recommend", "--api-url", api.URL, "--stream", "s1", "--model", "datadog", "--dashboards", dash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stream != "s1" || got.Model != "datadog" || len(got.Dashboards) != 1 || got.Dashboards[0].Name != filepath.Join("nested", "a.json") {
		t.Fatalf("uploaded %+v", got)
	}
	if !strings.Contains(out, "drop_metric") || !strings.Contains(out, "1.50 (datadog)") || !strings.Contains(out, "unused metrics: x") {
		t.Fatalf("table:\n%s", out)
	}
	js, _, err := runCLI(t, "recommend", "--api-url", api.URL, "--stream", "s1", "--dashboards", dash, "-o", "json")
	if err != nil || !strings.Contains(js, `"active_series": 10`) {
		t.Fatalf("json: %v %s", err, js)
	}
}

// TestPipelineCreateUpdateWire checks what create and update send.
func TestPipelineCreateUpdateWire(t *testing.T) {
	type call struct {
		method, path string
		body         map[string]any
	}
	var calls []call
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		calls = append(calls, call{r.Method, r.URL.Path, body})
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"pl-1","name":"web","team":"team-a","version":2,"config_hash":"sha256:x"}`)
	}))
	t.Cleanup(api.Close)
	file := filepath.Join(t.TempDir(), "c.yaml")
	_ = os.WriteFile(file, []byte("receivers: {}\n"), 0o600)
	if _, _, err := runCLI(t, "pipeline", "create", "--api-url", api.URL, "--name", "web", "--template", "topk", "--set", "k=5", "--reason", "r1"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "pipeline", "update", "pl-1", "--api-url", api.URL, "--file", file, "--version", "1", "--reason", "r2")
	if err != nil || !strings.Contains(out, "pl-1") {
		t.Fatalf("update: %v %s", err, out)
	}
	if len(calls) != 2 {
		t.Fatalf("calls = %+v", calls)
	}
	c := calls[0]
	gen, _ := c.body["generate"].(map[string]any)
	if c.method != "POST" || c.path != "/api/v1/pipelines" || c.body["name"] != "web" || c.body["reason"] != "r1" || gen["template"] != "topk" {
		t.Errorf("create sent %+v", c)
	}
	if set, _ := gen["set"].(map[string]any); set["k"] != "5" {
		t.Errorf("create set = %v", gen["set"])
	}
	u := calls[1]
	if u.method != "PUT" || u.path != "/api/v1/pipelines/pl-1" || u.body["config"] != "receivers: {}\n" || u.body["version"] != float64(1) || u.body["generate"] != nil {
		t.Errorf("update sent %+v", u)
	}
}
