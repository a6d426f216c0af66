package apiv1

import (
	"testing"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
)

// TestIngestHeadersNameTheAgentHeader: the generated exporter to Phoenix
// ingest sends the agent id under the header analytics reads
// (pipelinegen cannot import this package, so the name is checked here).
func TestIngestHeadersNameTheAgentHeader(t *testing.T) {
	h := pipelinegen.IngestHeaders()
	if _, ok := h[HeaderAgent]; !ok {
		t.Fatalf("pipelinegen.IngestHeaders() = %v lacks %s", h, HeaderAgent)
	}
	if _, ok := h["Authorization"]; !ok {
		t.Fatalf("pipelinegen.IngestHeaders() = %v lacks Authorization", h)
	}
}
