package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/config"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/pipelinegen/collectortest"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/pkg/service"
	"github.com/phoenix-platform/phoenix/pkg/telemetry"
	"github.com/phoenix-platform/phoenix/projects/generator/internal/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql and the embedded NATS server keep helpers that end
		// after the test's cleanups.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
	)
}

type harness struct {
	bus *messaging.Bus
	db  *database.Store
}

// start runs the generator on embedded NATS and SQLite with the real
// collector binary.
func start(t *testing.T) *harness {
	t.Helper()
	bin := collectortest.Bin(t)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := messaging.Connect(ctx, messaging.Settings{DataDir: t.TempDir(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "g.db"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := config.DefaultServer()
	ConfigFrom(&cfg).CollectorBin = bin
	svc, err := New(service.Settings{Config: &cfg, Logger: logger, Bus: bus, Store: db, Metrics: telemetry.NewMetrics(), Instance: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	return &harness{bus: bus, db: db}
}

var (
	alice = apiv1.Principal{Subject: "alice", Kind: "user", Role: "operator", Teams: []string{"team-a"}}
	bob   = apiv1.Principal{Subject: "bob", Kind: "user", Role: "operator", Teams: []string{"team-b"}}
	admin = apiv1.Principal{Subject: "root", Kind: "user", Role: "admin"}
)

// call sends a gateway-style request and decodes the answer into out.
func (h *harness) call(t *testing.T, subject string, p apiv1.Principal, params map[string]string, query url.Values, body any, out any) (int, *problem.Error) {
	t.Helper()
	req := apiv1.Request{Principal: p, Params: params, Query: query}
	if body != nil {
		switch b := body.(type) {
		case string:
			req.Body = json.RawMessage(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			req.Body = raw
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status, data, err := h.bus.RequestRaw(ctx, subject, req)
	if err != nil {
		var p *problem.Error
		if errors.As(err, &p) {
			return p.Status, p
		}
		t.Fatalf("%s: %v", subject, err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s: decode %s: %v", subject, data, err)
		}
	}
	return status, nil
}

func prodRequest(tmpl string) pipelinegen.Request {
	return pipelinegen.Request{Template: tmpl, Target: pipelinegen.Target{Exporter: &pipelinegen.Exporter{Type: "otlphttp", Endpoint: "http://127.0.0.1:4318"}}}
}

func TestTemplatesGenerateValidate(t *testing.T) {
	h := start(t)
	var tl apiv1.List[pipelinegen.Template]
	if st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "listPipelineTemplates"), alice, nil, nil, nil, &tl); st != 200 || p != nil || len(tl.Items) != 5 {
		t.Fatalf("templates: %d %v %d items", st, p, len(tl.Items))
	}

	var gen server.GenerateResponse
	st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "generatePipeline"), alice, nil, nil, prodRequest("baseline"), &gen)
	if st != 200 || p != nil || gen.Validated == nil || !*gen.Validated || !strings.HasPrefix(gen.ConfigHash, "sha256:") {
		t.Fatalf("generate: %d %v %+v", st, p, gen)
	}

	// Unknown fields are refused.
	if st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "generatePipeline"), alice, nil, nil, `{"template":"baseline","bogus":1}`, nil); st != 400 || p == nil {
		t.Fatalf("unknown field: %d %v", st, p)
	}
	// Field errors carry paths.
	st, p = h.call(t, apiv1.Subject(config.ServiceGenerator, "generatePipeline"), alice, nil, nil, pipelinegen.Request{Template: "topk", Set: map[string]string{"k": "0"}, Target: prodRequest("").Target}, nil)
	if st != 400 || p == nil || len(p.Errors) == 0 || p.Errors[0].Path != "set.k" {
		t.Fatalf("bad k: %d %+v", st, p)
	}

	// The collector's own verdict, with its YAML path.
	bad := strings.Replace(gen.Config, "limit_percentage: 80", "limit_percentage: 800", 1)
	st, p = h.call(t, apiv1.Subject(config.ServiceGenerator, "validatePipeline"), alice, nil, nil, server.ValidateRequest{Config: bad}, nil)
	if st != 400 || p == nil || len(p.Errors) == 0 || p.Errors[0].Path != "processors::memory_limiter" {
		t.Fatalf("validate bad: %d %+v", st, p)
	}
	var vr server.ValidateResponse
	if st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "validatePipeline"), alice, nil, nil, server.ValidateRequest{Config: gen.Config}, &vr); st != 200 || p != nil || !vr.Valid || vr.ConfigHash != gen.ConfigHash {
		t.Fatalf("validate good: %d %v %+v", st, p, vr)
	}
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "validatePipeline"), alice, nil, nil, server.ValidateRequest{Config: "a: [unclosed"}, nil); st != 400 {
		t.Fatalf("not YAML: %d", st)
	}
	// The server's files, URLs and environment stay out of reach.
	withFile := strings.Replace(gen.Config, "check_interval: 1s", "check_interval: ${file:/etc/hostname}", 1)
	st, p = h.call(t, apiv1.Subject(config.ServiceGenerator, "validatePipeline"), alice, nil, nil, server.ValidateRequest{Config: withFile}, nil)
	if st != 400 || p == nil || len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, "${file:...}") {
		t.Fatalf("file provider: %d %+v", st, p)
	}
	t.Setenv("PHOENIX_GENERATOR_TEST_SECRET", "s3cr3t-value")
	withEnv := strings.Replace(gen.Config, "check_interval: 1s", "check_interval: ${env:PHOENIX_GENERATOR_TEST_SECRET}", 1)
	st, p = h.call(t, apiv1.Subject(config.ServiceGenerator, "validatePipeline"), alice, nil, nil, server.ValidateRequest{Config: withEnv}, nil)
	if st != 400 || p == nil || strings.Contains(fmt.Sprint(p.Errors), "s3cr3t-value") {
		t.Fatalf("env provider: %d %+v", st, p)
	}
}

func TestPipelineLifecycle(t *testing.T) {
	h := start(t)
	// Subscribe to pipeline events before creating one.
	events := make(chan messaging.Event, 8)
	sub, err := h.bus.Conn.Subscribe(messaging.EventSubjectPrefix+messaging.KindPipeline+".>", func(m *nats.Msg) {
		var ev messaging.Event
		if json.Unmarshal(m.Data, &ev) == nil {
			events <- ev
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	var created apiv1.PipelineDetail
	st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "createPipeline"), alice, nil, nil, server.CreatePipelineRequest{
		Name: "web-fleet", Reason: "initial", Generate: ptr(prodRequest("baseline")),
	}, &created)
	if st != http.StatusCreated || p != nil || created.Team != "team-a" || created.Version != 1 || created.CreatedBy != "alice" || created.Config == "" {
		t.Fatalf("create: %d %v %+v", st, p, created)
	}
	id := created.ID
	select {
	case ev := <-events:
		if ev.Type != "version_created" || ev.ID != id {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no version_created event")
	}

	// Another team sees nothing.
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "getPipeline"), bob, map[string]string{"id": id}, nil, nil, nil); st != 404 {
		t.Fatalf("bob get: %d", st)
	}
	var bobList apiv1.List[json.RawMessage]
	if h.call(t, apiv1.Subject(config.ServiceGenerator, "listPipelines"), bob, nil, nil, nil, &bobList); len(bobList.Items) != 0 {
		t.Fatalf("bob sees %d pipelines", len(bobList.Items))
	}
	var adminList apiv1.List[json.RawMessage]
	if h.call(t, apiv1.Subject(config.ServiceGenerator, "listPipelines"), admin, nil, nil, nil, &adminList); len(adminList.Items) != 1 {
		t.Fatalf("admin sees %d pipelines", len(adminList.Items))
	}
	// A team the caller is not in cannot own it.
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "createPipeline"), alice, nil, nil, server.CreatePipelineRequest{Name: "x", Team: "team-b", Config: created.Config}, nil); st != 403 {
		t.Fatalf("foreign team create: %d", st)
	}

	// A new version; team is read-only.
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "updatePipeline"), alice, map[string]string{"id": id}, nil, `{"team":"team-b","config":"x: 1"}`, nil); st != 400 {
		t.Fatalf("team in update: %d", st)
	}
	gen2 := prodRequest("baseline")
	gen2.TelemetryAddr = "127.0.0.1:28888"
	var updated apiv1.PipelineDetail
	st, p = h.call(t, apiv1.Subject(config.ServiceGenerator, "updatePipeline"), alice, map[string]string{"id": id}, nil,
		server.UpdatePipelineRequest{Generate: &gen2, Reason: "move telemetry", Version: 1}, &updated)
	if st != 200 || p != nil || updated.Version != 2 || updated.Team != "team-a" || updated.Reason != "move telemetry" {
		t.Fatalf("update: %d %v %+v", st, p, updated)
	}
	// A writer that read version 1 loses.
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "updatePipeline"), alice, map[string]string{"id": id}, nil,
		server.UpdatePipelineRequest{Config: created.Config, Version: 1}, nil); st != 409 {
		t.Fatalf("stale update: %d", st)
	}
	// An invalid config never becomes a version.
	if st, p := h.call(t, apiv1.Subject(config.ServiceGenerator, "updatePipeline"), alice, map[string]string{"id": id}, nil,
		server.UpdatePipelineRequest{Config: strings.Replace(created.Config, "check_interval: 1s", "check_interval: 1s\n    bogus: 2", 1)}, nil); st != 400 || p.Errors[0].Path != "processors::memory_limiter::bogus" {
		t.Fatalf("invalid update: %d %+v", st, p)
	}

	var versions apiv1.List[json.RawMessage]
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "listPipelineVersions"), alice, map[string]string{"id": id}, url.Values{"limit": {"1"}}, nil, &versions); st != 200 || len(versions.Items) != 1 || versions.NextCursor == nil {
		t.Fatalf("versions: %d %+v", st, versions)
	}
	var diff apiv1.PipelineDiff
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "diffPipelineVersions"), alice, map[string]string{"id": id}, nil, nil, &diff); st != 200 || diff.From != 1 || diff.To != 2 ||
		!strings.Contains(diff.Diff, "-                port: 18888") || !strings.Contains(diff.Diff, "+                port: 28888") {
		t.Fatalf("diff: %d %+v", st, diff)
	}

	// The controller's contract: version 0 is the latest.
	var pv apiv1.PipelineVersion
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.bus.Request(ctx, apiv1.SubjectPipelineVersion, apiv1.PipelineVersionRequest{PipelineID: id}, &pv); err != nil || pv.Version != 2 || pv.Config != updated.Config || pv.ConfigHash != pipelinegen.Hash([]byte(pv.Config)) {
		t.Fatalf("pipeline_version latest: %v %+v", err, pv)
	}
	if err := h.bus.Request(ctx, apiv1.SubjectPipelineVersion, apiv1.PipelineVersionRequest{PipelineID: id, Version: 1}, &pv); err != nil || pv.Version != 1 || pv.Config != created.Config || pv.CreatedBy != "alice" || pv.Reason != "initial" {
		t.Fatalf("pipeline_version 1: %v %+v", err, pv)
	}
	err = h.bus.Request(ctx, apiv1.SubjectPipelineVersion, apiv1.PipelineVersionRequest{PipelineID: id, Version: 7}, &pv)
	var prob *problem.Error
	if !errors.As(err, &prob) || prob.Status != 404 {
		t.Fatalf("missing version: %v", err)
	}

	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "deletePipeline"), bob, map[string]string{"id": id}, nil, nil, nil); st != 404 {
		t.Fatalf("bob delete: %d", st)
	}
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "deletePipeline"), alice, map[string]string{"id": id}, nil, nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st, _ := h.call(t, apiv1.Subject(config.ServiceGenerator, "getPipeline"), alice, map[string]string{"id": id}, nil, nil, nil); st != 404 {
		t.Fatalf("get after delete: %d", st)
	}
}

func ptr[T any](v T) *T { return &v }
