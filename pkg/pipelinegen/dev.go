package pipelinegen

import (
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// DevTemplate is the preset `phoenix server --dev` deploys to its local
// collector: pass-through, so the demo shows the raw cost first.
const DevTemplate = "baseline"

// DevRequest describes the collector `phoenix server --dev` supervises on
// the developer's machine. Its source is "the dev source": an OTLP intake
// that loadsim feeds and, where the host allows it, hostmetrics' process
// scraper over this machine's own processes. Both export to Phoenix's own
// OTLP/HTTP ingest without a stream header, so they land in the default
// stream. It is a Go-only entry point: the REST contract's source kinds
// stay hostmetrics and otlp.
type DevRequest struct {
	// Template is the preset applied to both intakes (default DevTemplate);
	// Set holds its parameters.
	Template string
	Set      map[string]string
	// OTLPGRPCEndpoint and OTLPHTTPEndpoint are where the OTLP intake
	// listens (default DefaultOTLPGRPCEndpoint, DefaultOTLPHTTPEndpoint).
	OTLPGRPCEndpoint string
	OTLPHTTPEndpoint string
	// HostProcesses adds this host's processes. The process scraper needs
	// /proc, so callers set it on Linux only.
	HostProcesses bool
	// IngestEndpoint is Phoenix's OTLP/HTTP ingest (default
	// DefaultIngestEndpoint).
	IngestEndpoint string
	// TelemetryAddr and HealthAddr as in Request.
	TelemetryAddr string
	HealthAddr    string
}

// GenerateDev builds the --dev collector's config: one pipeline per intake
// (metrics/otlp, metrics/host), each memory_limiter, the preset's
// processors and batch; the host pipeline also runs resource_detection
// (the process scraper does not set host.name), the OTLP one does not, so
// loadsim's hosts keep the host.name they were given. Invalid input gives
// a 400 problem with paths as in Request (source.grpc_endpoint, ...).
func GenerateDev(r DevRequest) (*Result, error) {
	tmpl := r.Template
	if tmpl == "" {
		tmpl = DevTemplate
	}
	ingest := r.IngestEndpoint
	if ingest == "" {
		ingest = DefaultIngestEndpoint
	}
	req := Request{
		Template:      tmpl,
		Set:           r.Set,
		Source:        Source{Kind: SourceOTLP, GRPCEndpoint: r.OTLPGRPCEndpoint, HTTPEndpoint: r.OTLPHTTPEndpoint},
		Target:        Target{Exporter: &Exporter{Type: "otlphttp", Endpoint: ingest}},
		TelemetryAddr: r.TelemetryAddr,
		HealthAddr:    r.HealthAddr,
	}
	plan, errs := req.plan()
	if len(errs) > 0 {
		return nil, problem.BadRequest("invalid dev pipeline request", errs...)
	}
	plan.hostProcesses = r.HostProcesses
	return plan.result()
}

// intake is one receiver and the pipelines it feeds.
type intake struct {
	id   string // receiver id
	body *yaml.Node
	// pipeline names this intake's pipelines (metrics/<pipeline>) when a
	// config has several intakes; "" keeps the variant's pipeline name.
	pipeline string
	// detect runs resource_detection/system first: hostmetrics' process
	// scraper does not set host.name, and topk groups by it.
	detect bool
}

// intakes lists the config's receivers: the request's source, plus this
// host's processes for GenerateDev.
func (p *plan) intakes() []intake {
	id, body := p.receiver()
	kind := p.r.Source.Kind
	src := intake{id: id, body: body, detect: kind == "" || kind == SourceHostMetrics}
	if !p.hostProcesses {
		return []intake{src}
	}
	src.pipeline = kind
	scraper := processScraper()
	// cgroup reads fail for processes in other containers; as noisy and as
	// expected as the other per-process errors on a developer's machine.
	add(scraper, "mute_process_cgroup_error", true)
	host := intake{
		id: "host_metrics", pipeline: "host", detect: true,
		body: mapping(
			"collection_interval", DefaultCollectionInterval,
			"scrapers", mapping("process", scraper),
		),
	}
	return []intake{src, host}
}
