package fleetapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/phoenix/pkg/apiv1"
	"github.com/phoenix-platform/phoenix/pkg/database"
	"github.com/phoenix-platform/phoenix/pkg/messaging"
	"github.com/phoenix-platform/phoenix/pkg/problem"
	"github.com/phoenix-platform/phoenix/projects/controller/internal/fleet"
)

// TestConfigRequestFiles: every testdata/*.ok.json is accepted, every
// *.bad.json is a 400.
func TestConfigRequestFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 5 {
		t.Fatalf("only %d testdata files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			err = parseConfigRequest(body)
			if strings.HasSuffix(f, ".ok.json") && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if strings.HasSuffix(f, ".bad.json") {
				var p *problem.Error
				if !errors.As(err, &p) || p.Status != http.StatusBadRequest {
					t.Fatalf("accepted or not a 400: %v", err)
				}
			}
		})
	}
}

func parseConfigRequest(body []byte) error {
	req := apiv1.Request{Body: body}
	var b apiv1.PushConfigRequest
	if err := req.DecodeBody(&b); err != nil {
		return err
	}
	return validateConfigRequest(&b)
}

func FuzzConfigRequest(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := parseConfigRequest(body)
		var p *problem.Error
		if err != nil && (!errors.As(err, &p) || p.Status != http.StatusBadRequest) {
			t.Fatalf("error is not a 400: %v", err)
		}
	})
}

type fakeDeployer struct{ sent []*fleet.Deployment }

func (f *fakeDeployer) Deploy(_ context.Context, d *fleet.Deployment) (bool, error) {
	f.sent = append(f.sent, d)
	return true, nil
}

type fakePipelines map[string]apiv1.PipelineVersion

func (f fakePipelines) Request(_ context.Context, _ string, req, resp any) error {
	r := req.(apiv1.PipelineVersionRequest)
	pv, ok := f[r.PipelineID]
	if !ok {
		return problem.NotFound("no pipeline")
	}
	*resp.(*apiv1.PipelineVersion) = pv
	return nil
}

func TestHandlers(t *testing.T) {
	ctx := context.Background()
	store, err := database.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	repo := fleet.NewRepo(store)
	if err := repo.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for _, a := range []*fleet.Agent{
		{ID: "a-pay", Team: "payments", FirstSeen: t0, LastSeen: t0},
		{ID: "a-search", Team: "search", FirstSeen: t0, LastSeen: t0},
	} {
		if err := repo.SaveAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	dep := &fakeDeployer{}
	api := &API{Repo: repo, Deployer: dep, Now: func() time.Time { return t0 }, Pipelines: fakePipelines{
		"pl-pay":    {PipelineID: "pl-pay", Version: 4, Team: "payments", Config: "a: 1\n"},
		"pl-search": {PipelineID: "pl-search", Version: 1, Team: "search", Config: "b: 1\n"},
	}}
	ops := api.Operations()
	// call goes through the adapter, as the gateway's envelope does.
	call := func(op string, p apiv1.Principal, id string, body any) (any, error) {
		req := apiv1.Request{Principal: p, Params: map[string]string{"id": id}}
		if body != nil {
			req.Body, _ = json.Marshal(body)
		}
		data, _ := json.Marshal(req)
		return apiv1.Serve(ops[op])(ctx, data)
	}
	admin := apiv1.Principal{Subject: "root", Role: "admin"}
	payOp := apiv1.Principal{Subject: "pat", Role: "operator", Teams: []string{"payments"}}
	payViewer := apiv1.Principal{Subject: "vic", Role: "viewer", Teams: []string{"payments"}}

	tests := []struct {
		name   string
		op     string
		p      apiv1.Principal
		id     string
		body   any
		status int // 0: success
	}{
		{"operator gets own team's agent", "getAgent", payOp, "a-pay", nil, 0},
		{"operator gets other team's agent: 404", "getAgent", payOp, "a-search", nil, 404},
		{"missing agent: 404", "getAgent", admin, "nope", nil, 404},
		{"admin gets any agent", "getAgent", admin, "a-search", nil, 0},
		{"viewer cannot push", "pushAgentConfig", payViewer, "a-pay", map[string]any{"pipeline_id": "pl-pay"}, 403},
		{"operator pushes own pipeline", "pushAgentConfig", payOp, "a-pay", map[string]any{"pipeline_id": "pl-pay"}, 0},
		{"operator pushes other team's pipeline: 404", "pushAgentConfig", payOp, "a-pay", map[string]any{"pipeline_id": "pl-search"}, 404},
		{"operator to other team's agent: 404", "pushAgentConfig", payOp, "a-search", map[string]any{"pipeline_id": "pl-pay"}, 404},
		{"operator raw config: 403", "pushAgentConfig", payOp, "a-pay", map[string]any{"config": "a: 1"}, 403},
		{"admin raw config", "pushAgentConfig", admin, "a-pay", map[string]any{"config": "a: 2\n"}, 0},
		{"rollback to another agent's deployment: 404", "pushAgentConfig", admin, "a-search", map[string]any{"rollback_to": "dep-x"}, 404},
		{"history of other team's agent: 404", "getAgentHistory", payOp, "a-search", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(tt.op, tt.p, tt.id, tt.body)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != tt.status {
				t.Fatalf("got %v, want %d", err, tt.status)
			}
		})
	}
	if len(dep.sent) != 2 || dep.sent[0].Kind != fleet.KindPipeline || dep.sent[0].PipelineVersion != 4 ||
		dep.sent[1].Kind != fleet.KindRaw || dep.sent[1].CreatedBy != "root" {
		t.Fatalf("deployments sent: %+v", dep.sent)
	}
	out, err := call("pushAgentConfig", payOp, "a-pay", map[string]any{"rollback_to": dep.sent[0].ID, "reason": "undo"})
	if err != nil {
		t.Fatal(err)
	}
	rb := out.(messaging.StatusReply).Body.(apiv1.PushConfigResult)
	if rb.Kind != fleet.KindRollback || rb.RollbackOf != dep.sent[0].ID || rb.ConfigHash != dep.sent[0].ConfigHash || rb.PipelineID != "pl-pay" {
		t.Fatalf("rollback: %+v", rb.Deployment)
	}
	list, err := call("listAgents", payOp, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if items := list.(apiv1.List[*fleet.Agent]).Items; len(items) != 1 || items[0].ID != "a-pay" {
		t.Fatalf("team list: %+v", items)
	}
	hist, err := call("getAgentHistory", payOp, "a-pay", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := hist.(apiv1.List[*fleet.Deployment]).Items; len(h) != 3 || h[0].Kind != fleet.KindRollback {
		t.Fatalf("history: %+v", h)
	}
}
