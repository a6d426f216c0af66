// Package pipelinegen generates OpenTelemetry Collector configs for
// phoenix-collector from strategies and presets. It is pure (no I/O besides
// the optional validation subprocess in validate.go), so the generator
// service and the CLI (offline) share it.
//
// A pipeline is an ordered list of strategies between memory_limiter (first)
// and batch (last). The target decides the rest: production sends one
// pipeline to a backend; experiment fans one receiver out to a baseline and
// candidate pipelines that all export to Phoenix ingest, each tagged with
// phoenix.experiment.id and phoenix.variant by its own resource processor.
// Output is deterministic: the same request gives the same bytes.
package pipelinegen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Target kinds.
const (
	TargetProduction = "production"
	TargetExperiment = "experiment"
)

// Source kinds: what the collector receives.
const (
	SourceHostMetrics = "hostmetrics"
	SourceOTLP        = "otlp"
)

// Defaults of a generated config.
const (
	DefaultIngestEndpoint     = "http://127.0.0.1:4318"
	DefaultTelemetryAddr      = "127.0.0.1:18888"
	DefaultCollectionInterval = "10s"
	DefaultOTLPGRPCEndpoint   = "127.0.0.1:14317"
	DefaultOTLPHTTPEndpoint   = "127.0.0.1:14318"
	BaselineVariant           = "baseline"
)

// Environment variables an exporter to Phoenix ingest reads its
// credentials from. The Phoenix agent sets both for the collector it
// supervises (its own API key, which needs the agent and ingest scopes, and
// its fleet id); a collector run by hand sets them itself. The secret is
// never written into a config: configs travel over OpAMP, are stored and
// shown as effective configs.
const (
	EnvIngestToken = "PHOENIX_INGEST_TOKEN"
	EnvAgentID     = "PHOENIX_AGENT_ID"
)

// IngestHeaders are the headers of every exporter to Phoenix ingest
// (ADR 0016): Authorization carries the agent's key and X-Phoenix-Agent its
// id, which admits the collector into the variant streams reserved for its
// experiment. The collector expands ${env:...} when it loads the config;
// an empty token gives "Bearer ", which open ingest (--dev) ignores and
// authenticated ingest refuses with 401. A new map on every call: callers
// may add to it.
func IngestHeaders() map[string]string {
	return map[string]string{
		"Authorization":   "Bearer ${env:" + EnvIngestToken + "}",
		"X-Phoenix-Agent": "${env:" + EnvAgentID + "}",
	}
}

// Request says what to generate. Either Template (with Set) or Strategies
// describes the production pipeline; an experiment lists its candidates in
// Target.Candidates instead.
type Request struct {
	Template   string            `json:"template,omitempty"`
	Set        map[string]string `json:"set,omitempty"`
	Strategies []Strategy        `json:"strategies,omitempty"`
	Source     Source            `json:"source"`
	Target     Target            `json:"target"`
	// TelemetryAddr is where the collector serves its own metrics
	// (service.telemetry.metrics); never the upstream default :8888, so
	// several collectors fit on one host.
	TelemetryAddr string `json:"telemetry_addr,omitempty"`
	// HealthAddr, when set, enables the health_check extension on that
	// host:port; the Phoenix agent waits for it before reporting a config
	// applied.
	HealthAddr string `json:"health_addr,omitempty"`
}

// Source is the receiver side.
type Source struct {
	Kind               string `json:"kind,omitempty"`                // hostmetrics (default) or otlp
	CollectionInterval string `json:"collection_interval,omitempty"` // hostmetrics
	GRPCEndpoint       string `json:"grpc_endpoint,omitempty"`       // otlp
	HTTPEndpoint       string `json:"http_endpoint,omitempty"`       // otlp
}

// Target is where the data goes.
type Target struct {
	Kind string `json:"kind,omitempty"` // production (default) or experiment

	// production
	Exporter *Exporter `json:"exporter,omitempty"`

	// experiment
	ExperimentID   string    `json:"experiment_id,omitempty"`
	IngestEndpoint string    `json:"ingest_endpoint,omitempty"`
	Baseline       *Variant  `json:"baseline,omitempty"` // default: pass-through
	Candidates     []Variant `json:"candidates,omitempty"`
}

// Exporter is a production backend: otlphttp or prometheusremotewrite with
// an endpoint, or any exporter block the user provides (Type plus Config).
type Exporter struct {
	Type     string            `json:"type"`
	Endpoint string            `json:"endpoint,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Config   map[string]any    `json:"config,omitempty"` // the whole block for other exporters
}

// Variant is one pipeline of an experiment: a template (with Set),
// strategies, or Config, a stored production collector config whose
// metrics pipeline's processors the variant runs (memory_limiter, resource
// detection and batch are the fan-out's own).
type Variant struct {
	Name       string            `json:"name,omitempty"` // default candidate-a, candidate-b, ...
	Template   string            `json:"template,omitempty"`
	Set        map[string]string `json:"set,omitempty"`
	Strategies []Strategy        `json:"strategies,omitempty"`
	Config     string            `json:"config,omitempty"`
}

// Result is a generated config.
type Result struct {
	Config     []byte
	ConfigHash string                // sha256:<hex> of Config
	Variants   map[string][]Strategy // strategies per pipeline name (production: "metrics")
}

// Exporter type names. The collector at v0.160.0 names them otlp_http and
// prometheus_remote_write; the older names are deprecated aliases it still
// accepts, so both are accepted as input and the canonical ones written.
var exporterAliases = map[string]string{
	"otlphttp": "otlp_http", "otlp_http": "otlp_http",
	"prometheusremotewrite": "prometheus_remote_write", "prometheus_remote_write": "prometheus_remote_write",
}

var (
	componentType = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	variantName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Generate builds the collector config for r. Invalid input gives a 400
// problem listing every error with its path in the request.
func Generate(r Request) (*Result, error) {
	plan, errs := r.plan()
	if len(errs) > 0 {
		return nil, problem.BadRequest("invalid pipeline request", errs...)
	}
	return plan.result()
}

// result renders the planned config.
func (p *plan) result() (*Result, error) {
	out, err := encode(p.document())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(out)
	res := &Result{Config: out, ConfigHash: "sha256:" + hex.EncodeToString(sum[:]), Variants: map[string][]Strategy{}}
	for _, v := range p.variants {
		res.Variants[v.pipeline] = v.strategies
	}
	return res, nil
}

// Hash is the config_hash of a config.
func Hash(config []byte) string {
	sum := sha256.Sum256(config)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type plannedVariant struct {
	name       string // variant name ("" in production)
	pipeline   string // metrics or metrics/<variant>
	strategies []Strategy
	processors []processor
	stored     bool // processors come from a stored config
}

type plan struct {
	r        Request
	variants []plannedVariant
	// hostProcesses adds a second intake, this host's processes, beside
	// the request's source (GenerateDev only).
	hostProcesses bool
}

// plan checks the request and resolves templates into strategies.
func (r Request) plan() (*plan, []problem.FieldError) {
	var errs []problem.FieldError
	p := &plan{r: r}
	if r.TelemetryAddr != "" {
		if msg := checkHostPort(r.TelemetryAddr); msg != "" {
			errs = append(errs, problem.FieldError{Path: "telemetry_addr", Message: msg})
		}
	}
	if r.HealthAddr != "" {
		if msg := checkHostPort(r.HealthAddr); msg != "" {
			errs = append(errs, problem.FieldError{Path: "health_addr", Message: msg})
		} else if r.HealthAddr == r.TelemetryAddr {
			errs = append(errs, problem.FieldError{Path: "health_addr", Message: "must differ from telemetry_addr"})
		}
	}
	errs = append(errs, r.Source.check()...)
	switch r.Target.Kind {
	case "", TargetProduction:
		if len(r.Target.Candidates) > 0 || r.Target.Baseline != nil || r.Target.ExperimentID != "" || r.Target.IngestEndpoint != "" {
			errs = append(errs, problem.FieldError{Path: "target", Message: "experiment_id, ingest_endpoint, baseline and candidates apply to kind experiment only"})
		}
		if r.Target.Exporter == nil {
			errs = append(errs, problem.FieldError{Path: "target.exporter", Message: "is required for a production target"})
		} else {
			errs = append(errs, r.Target.Exporter.check("target.exporter")...)
		}
		ss, e := resolve(r.Template, r.Set, r.Strategies, "")
		errs = append(errs, e...)
		p.variants = append(p.variants, plannedVariant{pipeline: "metrics", strategies: ss})
	case TargetExperiment:
		if r.Template != "" || len(r.Set) > 0 || len(r.Strategies) > 0 {
			errs = append(errs, problem.FieldError{Path: "template", Message: "an experiment lists its pipelines in target.baseline and target.candidates"})
		}
		if r.Target.Exporter != nil {
			errs = append(errs, problem.FieldError{Path: "target.exporter", Message: "an experiment exports to Phoenix ingest (target.ingest_endpoint)"})
		}
		if !variantName.MatchString(r.Target.ExperimentID) {
			errs = append(errs, problem.FieldError{Path: "target.experiment_id", Message: "is required and must match ^[A-Za-z0-9_-]{1,64}$"})
		}
		if ep := r.Target.IngestEndpoint; ep != "" {
			if msg := checkURL(ep); msg != "" {
				errs = append(errs, problem.FieldError{Path: "target.ingest_endpoint", Message: msg})
			}
		}
		if len(r.Target.Candidates) == 0 {
			errs = append(errs, problem.FieldError{Path: "target.candidates", Message: "at least one candidate is required"})
		}
		if len(r.Target.Candidates) > 26 {
			errs = append(errs, problem.FieldError{Path: "target.candidates", Message: "at most 26 candidates"})
		}
		base := Variant{Name: BaselineVariant, Template: "baseline"}
		if r.Target.Baseline != nil {
			base = *r.Target.Baseline
			if base.Name == "" {
				base.Name = BaselineVariant
			}
		}
		all := append([]Variant{base}, r.Target.Candidates...)
		seen := map[string]bool{}
		for i, v := range all {
			path := "target.baseline"
			if i > 0 {
				path = fmt.Sprintf("target.candidates[%d]", i-1)
				if v.Name == "" && i <= 26 {
					v.Name = "candidate-" + string(rune('a'+i-1))
				}
			}
			if !variantName.MatchString(v.Name) {
				errs = append(errs, problem.FieldError{Path: path + ".name", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
			} else if seen[v.Name] {
				errs = append(errs, problem.FieldError{Path: path + ".name", Message: fmt.Sprintf("duplicate variant name %q", v.Name)})
			}
			seen[v.Name] = true
			if v.Config != "" {
				if v.Template != "" || len(v.Set) > 0 || len(v.Strategies) > 0 {
					errs = append(errs, problem.FieldError{Path: path + ".config", Message: "set config, template or strategies, only one"})
				}
				procs, e := storedProcessors(v.Name, v.Config, path)
				errs = append(errs, e...)
				p.variants = append(p.variants, plannedVariant{name: v.Name, pipeline: "metrics/" + v.Name, processors: procs, stored: true})
				continue
			}
			if v.Template == "" && len(v.Strategies) == 0 && i > 0 {
				errs = append(errs, problem.FieldError{Path: path, Message: "set template, strategies or config"})
			}
			ss, e := resolve(v.Template, v.Set, v.Strategies, path)
			errs = append(errs, e...)
			p.variants = append(p.variants, plannedVariant{name: v.Name, pipeline: "metrics/" + v.Name, strategies: ss})
		}
	default:
		errs = append(errs, problem.FieldError{Path: "target.kind", Message: fmt.Sprintf("must be production or experiment, got %q", r.Target.Kind)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for i := range p.variants {
		if !p.variants[i].stored {
			p.variants[i].processors = buildProcessors(p.variants[i].name, p.variants[i].strategies)
		}
	}
	return p, nil
}

// resolve turns a template or explicit strategies into checked strategies.
func resolve(template string, set map[string]string, strategies []Strategy, prefix string) ([]Strategy, []problem.FieldError) {
	join := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	var errs []problem.FieldError
	var out []Strategy
	switch {
	case template != "" && len(strategies) > 0:
		return nil, []problem.FieldError{{Path: join("strategies"), Message: "set template or strategies, not both"}}
	case template != "":
		t, ok := LookupTemplate(template)
		if !ok {
			return nil, []problem.FieldError{{Path: join("template"), Message: fmt.Sprintf("unknown template %q (known: %s)", template, strings.Join(TemplateNames(), ", "))}}
		}
		ss, e := t.Expand(set, join("set"))
		if len(e) > 0 {
			return nil, e
		}
		out = ss
	default:
		if len(set) > 0 {
			errs = append(errs, problem.FieldError{Path: join("set"), Message: "set applies to a template"})
		}
		out = strategies
	}
	ids := map[string]bool{}
	for i := range out {
		errs = append(errs, out[i].validate(join(fmt.Sprintf("strategies[%d]", i)))...)
		id := out[i].ID
		if id != "" {
			if ids[id] {
				errs = append(errs, problem.FieldError{Path: join(fmt.Sprintf("strategies[%d].id", i)), Message: fmt.Sprintf("duplicate id %q", id)})
			}
			ids[id] = true
		}
	}
	return out, errs
}

// buildProcessors names each strategy's processors: the strategy id (or its
// type, numbered from the second occurrence), prefixed by the variant in an
// experiment so candidates never share a processor.
func buildProcessors(variant string, ss []Strategy) []processor {
	var out []processor
	counts := map[string]int{}
	for _, s := range ss {
		id := s.ID
		if id == "" {
			counts[s.Type]++
			id = s.Type
			if n := counts[s.Type]; n > 1 {
				id += "-" + strconv.Itoa(n)
			}
		}
		if variant != "" {
			id = variant + "-" + id
		}
		out = append(out, s.processors(id)...)
	}
	return out
}

func (s Source) check() []problem.FieldError {
	var errs []problem.FieldError
	switch s.Kind {
	case "", SourceHostMetrics:
		if s.GRPCEndpoint != "" || s.HTTPEndpoint != "" {
			errs = append(errs, problem.FieldError{Path: "source", Message: "grpc_endpoint and http_endpoint apply to kind otlp"})
		}
		if s.CollectionInterval != "" {
			if d, err := time.ParseDuration(s.CollectionInterval); err != nil || d <= 0 {
				errs = append(errs, problem.FieldError{Path: "source.collection_interval", Message: "must be a positive duration such as 10s"})
			}
		}
	case SourceOTLP:
		if s.CollectionInterval != "" {
			errs = append(errs, problem.FieldError{Path: "source.collection_interval", Message: "applies to kind hostmetrics"})
		}
		for _, f := range []struct{ path, v string }{{"source.grpc_endpoint", s.GRPCEndpoint}, {"source.http_endpoint", s.HTTPEndpoint}} {
			if f.v != "" {
				if msg := checkHostPort(f.v); msg != "" {
					errs = append(errs, problem.FieldError{Path: f.path, Message: msg})
				}
			}
		}
	default:
		errs = append(errs, problem.FieldError{Path: "source.kind", Message: fmt.Sprintf("must be hostmetrics or otlp, got %q", s.Kind)})
	}
	return errs
}

func (e *Exporter) check(path string) []problem.FieldError {
	if e.Config != nil {
		// Bounded before anything else: encoding a deep block is what costs.
		name := e.Type
		if canon, ok := exporterAliases[name]; ok {
			name = canon
		}
		if errs := CheckBlock("exporters::"+name, e.Config); len(errs) > 0 {
			return errs
		}
	}
	var errs []problem.FieldError
	if canon, ok := exporterAliases[e.Type]; ok {
		if e.Endpoint == "" && e.Config == nil {
			errs = append(errs, problem.FieldError{Path: path + ".endpoint", Message: "is required for " + canon})
		}
		if e.Endpoint != "" {
			if msg := checkURL(e.Endpoint); msg != "" {
				errs = append(errs, problem.FieldError{Path: path + ".endpoint", Message: msg})
			}
		}
		if e.Endpoint != "" && e.Config != nil {
			errs = append(errs, problem.FieldError{Path: path + ".config", Message: "set endpoint (and headers) or config, not both"})
		}
		return errs
	}
	typ, _, _ := strings.Cut(e.Type, "/")
	if !componentType.MatchString(typ) {
		errs = append(errs, problem.FieldError{Path: path + ".type", Message: "must name a collector exporter type such as otlphttp, prometheusremotewrite or otlp"})
	}
	if e.Endpoint != "" || len(e.Headers) > 0 {
		errs = append(errs, problem.FieldError{Path: path + ".endpoint", Message: "endpoint and headers apply to otlphttp and prometheusremotewrite; give other exporters their whole block in config"})
	}
	return errs
}

func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an http:// or https:// URL"
	}
	return ""
}

func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "must be host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "port must be 1-65535"
	}
	return ""
}

// document assembles the whole config in the collector's section order.
func (p *plan) document() *yaml.Node {
	r := p.r
	intakes := p.intakes()

	processors := mapping("memory_limiter", mapping(
		"check_interval", "1s",
		"limit_percentage", 80,
		"spike_limit_percentage", 20,
	))
	// hostmetrics' process scraper does not set host.name: the system
	// detector does, and topk groups by it.
	if slices.ContainsFunc(intakes, func(in intake) bool { return in.detect }) {
		add(processors, "resource_detection/system", mapping(
			"detectors", []string{"system"},
			"system", mapping("hostname_sources", []string{"os"}),
		))
	}
	for _, v := range p.variants {
		for _, pr := range v.processors {
			add(processors, pr.id, pr.body)
		}
		if v.name != "" {
			add(processors, "resource/"+v.name, mapping("attributes", seq(
				mapping("key", "phoenix.experiment.id", "value", r.Target.ExperimentID, "action", "upsert"),
				mapping("key", "phoenix.variant", "value", v.name, "action", "upsert"),
			)))
		}
	}
	add(processors, "batch", mapping("send_batch_size", 8192, "timeout", "1s"))

	exporterID, exporter := p.exporter()

	pipelines := mapping()
	for _, v := range p.variants {
		for _, in := range intakes {
			procs := []string{"memory_limiter"}
			if in.detect {
				procs = append(procs, "resource_detection/system")
			}
			for _, pr := range v.processors {
				procs = append(procs, pr.id)
			}
			if v.name != "" {
				procs = append(procs, "resource/"+v.name)
			}
			procs = append(procs, "batch")
			name := v.pipeline
			if in.pipeline != "" {
				name += "/" + in.pipeline
			}
			add(pipelines, name, mapping(
				"receivers", flowSeq([]string{in.id}),
				"processors", flowSeq(procs),
				"exporters", flowSeq([]string{exporterID}),
			))
		}
	}

	telemetry := r.TelemetryAddr
	if telemetry == "" {
		telemetry = DefaultTelemetryAddr
	}
	host, port, _ := net.SplitHostPort(telemetry)
	portN, _ := strconv.Atoi(port)

	service := mapping()
	receivers := mapping()
	for _, in := range intakes {
		add(receivers, in.id, in.body)
	}
	root := mapping(
		"receivers", receivers,
		"processors", processors,
		"exporters", mapping(exporterID, exporter),
	)
	if r.HealthAddr != "" {
		add(root, "extensions", mapping("health_check", mapping("endpoint", r.HealthAddr)))
		add(service, "extensions", flowSeq([]string{"health_check"}))
	}
	add(service, "telemetry", mapping("metrics", mapping("readers", seq(mapping(
		"pull", mapping("exporter", mapping("prometheus", mapping("host", host, "port", portN))),
	)))))
	add(service, "pipelines", pipelines)
	add(root, "service", service)
	return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
}

func (p *plan) receiver() (string, *yaml.Node) {
	s := p.r.Source
	if s.Kind == SourceOTLP {
		grpc, http := s.GRPCEndpoint, s.HTTPEndpoint
		if grpc == "" {
			grpc = DefaultOTLPGRPCEndpoint
		}
		if http == "" {
			http = DefaultOTLPHTTPEndpoint
		}
		return "otlp", mapping("protocols", mapping(
			"grpc", mapping("endpoint", grpc),
			"http", mapping("endpoint", http),
		))
	}
	interval := s.CollectionInterval
	if interval == "" {
		interval = DefaultCollectionInterval
	}
	return "host_metrics", mapping(
		"collection_interval", interval,
		"scrapers", mapping(
			"cpu", emptyMap(),
			"memory", emptyMap(),
			"load", emptyMap(),
			"process", processScraper(),
		),
	)
}

// processScraper is hostmetrics' process scraper. Processes vanish between
// listing and reading; those are expected, not errors worth a log line per
// scrape.
func processScraper() *yaml.Node {
	return mapping(
		"mute_process_name_error", true,
		"mute_process_exe_error", true,
		"mute_process_io_error", true,
		"mute_process_user_error", true,
	)
}

func (p *plan) exporter() (string, *yaml.Node) {
	t := p.r.Target
	if t.Kind == TargetExperiment {
		ep := t.IngestEndpoint
		if ep == "" {
			ep = DefaultIngestEndpoint
		}
		return "otlp_http/phoenix", mapping("endpoint", ep, "headers", IngestHeaders())
	}
	e := t.Exporter
	if canon, ok := exporterAliases[e.Type]; ok {
		if e.Config != nil {
			return canon, node(e.Config)
		}
		body := mapping("endpoint", e.Endpoint)
		if len(e.Headers) > 0 {
			add(body, "headers", e.Headers)
		}
		if canon == "prometheus_remote_write" {
			// hostmetrics carries process.* and host.name on the resource;
			// without this they would not become labels.
			add(body, "resource_to_telemetry_conversion", mapping("enabled", true))
		}
		return canon, body
	}
	if e.Config == nil {
		return e.Type, emptyMap()
	}
	return e.Type, node(e.Config)
}
