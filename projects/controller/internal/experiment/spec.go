// Package experiment is the core of Phoenix experiments: the spec users
// write (api/schemas/experiment.yaml), its parser, the lifecycle state
// machine, the durable store of experiments and their transitions, and the
// verdict that turns measured figures into succeeded, failed or
// inconclusive. It holds no transport: the controller, the API and the CLI
// drive it.
package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/pipelinegen"
	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Spec document identity.
const (
	APIVersion = "phoenix.dev/v1alpha1"
	Kind       = "Experiment"
)

// BaselineVariant is the variant name of the baseline; candidates may not
// take it.
const BaselineVariant = pipelinegen.BaselineVariant

// On-success actions and rollout strategies.
const (
	OnSuccessPromote = "promote" // promote the winner without asking
	OnSuccessWait    = "wait"    // wait in succeeded for an approval

	RolloutAll    = "all"
	RolloutStaged = "staged"
)

// Limits of a spec. They bound what one experiment asks of the agents and of
// analytics, and keep a stored spec small.
const (
	MaxSpecBytes     = 256 << 10
	MaxCandidates    = 8
	MaxCritical      = 20
	MaxAggregates    = 20
	MaxExprLen       = 1024
	MaxSelectorLabel = 32
	MaxDescription   = 1024
	MinDuration      = 10 * time.Second // one analytics rollup window
	MaxDuration      = 7 * 24 * time.Hour
	MaxWarmup        = 24 * time.Hour
	MaxPause         = 24 * time.Hour
)

// namePattern is a stream id part: `<experiment name>--<variant name>` must
// be a valid stream id (ARCHITECTURE.md, Streams).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// pipelineRef is a stored pipeline's name or id, optionally @version.
var pipelineRef = regexp.MustCompile(`^[^@\s]{1,128}(@[1-9][0-9]{0,8})?$`)

var priceModel = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Experiment is the whole spec document.
type Experiment struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names the experiment; the name is the first part of its variant
// streams.
type Metadata struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Spec says what runs where, for how long, and what counts as success.
type Spec struct {
	Target     Target    `json:"target"`
	Baseline   Variant   `json:"baseline"`
	Candidates []Variant `json:"candidates"`
	Warmup     Duration  `json:"warmup,omitempty"`
	Duration   Duration  `json:"duration"`
	// Critical are label matchers in PromQL form
	// (`process.executable.name=~"nginx|postgres"`) naming entities that
	// must survive; analytics parses them.
	Critical []string `json:"critical,omitempty"`
	// Aggregates are PromQL aggregations whose values must stay within
	// max_aggregate_error_pct; analytics parses them.
	Aggregates []string `json:"aggregates,omitempty"`
	// Queries are scored per window (per-query fidelity; queries.go).
	Queries   *Queries `json:"queries,omitempty"`
	Criteria  Criteria `json:"criteria"`
	OnSuccess string   `json:"on_success,omitempty"`
	Rollout   Rollout  `json:"rollout,omitzero"`
}

// Target selects the agents: every agent whose labels contain all of
// Selector runs the experiment.
type Target struct {
	Selector map[string]string `json:"selector"`
}

// Variant is one pipeline: a stored pipeline (Pipeline, `name` or
// `name@version`), a template with Set parameters, or explicit strategies.
// The baseline takes no name (it is always `baseline`).
type Variant struct {
	Name       string                 `json:"name,omitempty"`
	Pipeline   string                 `json:"pipeline,omitempty"`
	Template   string                 `json:"template,omitempty"`
	Set        map[string]string      `json:"set,omitempty"`
	Strategies []pipelinegen.Strategy `json:"strategies,omitempty"`
}

// Criteria are the thresholds a candidate must meet, in percent. A nil
// threshold is not checked; at least one must be set.
type Criteria struct {
	MinSeriesReductionPct   *float64 `json:"min_series_reduction_pct,omitempty"`
	MinCriticalRetentionPct *float64 `json:"min_critical_retention_pct,omitempty"`
	MaxAggregateErrorPct    *float64 `json:"max_aggregate_error_pct,omitempty"`
	MinCostReductionPct     *float64 `json:"min_cost_reduction_pct,omitempty"`
	MaxQueryErrorPct        *float64 `json:"max_query_error_pct,omitempty"` // needs spec.queries (queries.go)
	// PriceModel names a model of the price catalog (configs/pricing.yaml);
	// empty means analytics' default (self-hosted).
	PriceModel string `json:"price_model,omitempty"`
}

// Rollout says how a promotion reaches the fleet: every agent at once, or
// staged in percent steps with a pause after each.
type Rollout struct {
	Strategy string   `json:"strategy,omitempty"`
	Steps    []int    `json:"steps,omitempty"`
	Pause    Duration `json:"pause,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("must be a duration such as 30s or 2m")
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// StreamID is the stream a variant's data arrives on.
func StreamID(experiment, variant string) string { return experiment + "--" + variant }

// Parse reads a spec (YAML or JSON), applies defaults and checks it. Any
// problem gives a 400 problem listing every error with its path.
func Parse(data []byte) (*Experiment, error) {
	if len(data) > MaxSpecBytes {
		return nil, problem.BadRequest("invalid experiment spec",
			problem.FieldError{Path: "(document)", Message: fmt.Sprintf("is %d bytes; the limit is %d", len(data), MaxSpecBytes)})
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		msg := "not valid YAML or JSON: " + err.Error()
		if errors.Is(err, io.EOF) {
			msg = "is empty"
		}
		return nil, problem.BadRequest("invalid experiment spec", problem.FieldError{Path: "(document)", Message: msg})
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, problem.BadRequest("invalid experiment spec",
			problem.FieldError{Path: "(document)", Message: "holds more than one YAML document"})
	}
	var e Experiment
	d := &decoder{}
	d.decode(&root, reflect.ValueOf(&e).Elem(), "")
	e.Default()
	// Check what decoded too, so one answer lists every problem; a check on
	// a field that failed to decode (or on its parent or child) would only
	// repeat the decode error in other words.
	decodeErrs := slices.Clone(d.errs)
	for _, fe := range e.Validate() {
		if !related(fe.Path, decodeErrs) && len(d.errs) < maxErrors {
			d.errs = append(d.errs, fe)
		}
	}
	if len(d.errs) > 0 {
		return nil, problem.BadRequest("invalid experiment spec", d.errs...)
	}
	return &e, nil
}

// Default fills the optional fields a spec may leave out.
func (e *Experiment) Default() {
	if e.Spec.OnSuccess == "" {
		e.Spec.OnSuccess = OnSuccessWait
	}
	if e.Spec.Rollout.Strategy == "" {
		e.Spec.Rollout.Strategy = RolloutAll
	}
}

// Validate reports every problem of a decoded, defaulted spec.
func (e *Experiment) Validate() []problem.FieldError {
	var errs []problem.FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, problem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if e.APIVersion != APIVersion {
		bad("apiVersion", "must be %s", APIVersion)
	}
	if e.Kind != Kind {
		bad("kind", "must be %s", Kind)
	}
	if !namePattern.MatchString(e.Metadata.Name) {
		bad("metadata.name", "is required and must match %s (it names the experiment's streams)", namePattern)
	} else if strings.Contains(e.Metadata.Name, "--") {
		bad("metadata.name", "must not contain -- (it separates the experiment from the variant in stream ids)")
	}
	if len(e.Metadata.Description) > MaxDescription {
		bad("metadata.description", "is longer than %d bytes", MaxDescription)
	}
	s := &e.Spec
	errs = append(errs, checkSelector(s.Target.Selector)...)
	errs = append(errs, e.checkVariants()...)

	if w := s.Warmup.Std(); w < 0 || w > MaxWarmup {
		bad("spec.warmup", "must be between 0s and %s", MaxWarmup)
	}
	if d := s.Duration.Std(); d < MinDuration || d > MaxDuration {
		bad("spec.duration", "is required and must be between %s (one analytics window) and %s", MinDuration, MaxDuration)
	}
	errs = append(errs, checkExprs("spec.critical", s.Critical, MaxCritical)...)
	errs = append(errs, checkExprs("spec.aggregates", s.Aggregates, MaxAggregates)...)
	errs = append(errs, s.checkCriteria()...)
	errs = append(errs, s.checkQueries()...)

	switch s.OnSuccess {
	case OnSuccessPromote, OnSuccessWait:
	default:
		bad("spec.on_success", "must be promote or wait")
	}
	errs = append(errs, s.Rollout.check()...)
	return errs
}

func checkSelector(sel map[string]string) []problem.FieldError {
	var errs []problem.FieldError
	if len(sel) == 0 {
		// An empty selector would match every agent: too easy to run an
		// experiment on the whole fleet by omission.
		return []problem.FieldError{{Path: "spec.target.selector", Message: "is required: at least one agent label (e.g. env: dev)"}}
	}
	if len(sel) > MaxSelectorLabel {
		errs = append(errs, problem.FieldError{Path: "spec.target.selector", Message: fmt.Sprintf("has more than %d labels", MaxSelectorLabel)})
	}
	for _, k := range sortedKeys(sel) {
		if k == "" || len(k) > 128 {
			errs = append(errs, problem.FieldError{Path: "spec.target.selector", Message: "label names must be 1 to 128 bytes"})
		} else if len(sel[k]) > 256 {
			errs = append(errs, problem.FieldError{Path: "spec.target.selector." + k, Message: "is longer than 256 bytes"})
		}
	}
	return errs
}

// checkVariants checks names and the pipeline source of each variant; the
// generator checks templates, set parameters and strategies, so a spec is
// refused for exactly what `phoenix pipeline generate` would refuse.
func (e *Experiment) checkVariants() []problem.FieldError {
	var errs []problem.FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, problem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	s := &e.Spec
	if s.Baseline.Name != "" && s.Baseline.Name != BaselineVariant {
		bad("spec.baseline.name", "the baseline variant is always named %s", BaselineVariant)
	}
	if len(s.Candidates) == 0 {
		bad("spec.candidates", "at least one candidate is required")
	}
	if len(s.Candidates) > MaxCandidates {
		bad("spec.candidates", "at most %d candidates", MaxCandidates)
	}
	// Generated variants go to the generator in one request, as the
	// controller will send them; paths map back to the spec.
	req := pipelinegen.Request{Target: pipelinegen.Target{Kind: pipelinegen.TargetExperiment, ExperimentID: "check"}}
	paths := map[string]string{}
	addGenerated := func(v Variant, path string) {
		gv, _ := generatorVariant(v, v.Name, nil) // never fails without a stored pipeline
		if path == "spec.baseline" {
			gv.Name = BaselineVariant
			req.Target.Baseline = &gv
			paths["target.baseline"] = path
			return
		}
		paths[fmt.Sprintf("target.candidates[%d]", len(req.Target.Candidates))] = path
		req.Target.Candidates = append(req.Target.Candidates, gv)
	}
	checkSource := func(v Variant, path string) {
		sources := 0
		if v.Pipeline != "" {
			sources++
		}
		if v.Template != "" {
			sources++
		}
		if len(v.Strategies) > 0 {
			sources++
		}
		switch {
		case sources == 0:
			bad(path, "set one of pipeline, template or strategies")
		case sources > 1:
			bad(path, "set only one of pipeline, template or strategies")
		case v.Pipeline != "":
			if !pipelineRef.MatchString(v.Pipeline) {
				bad(path+".pipeline", "must be a stored pipeline's name or id, optionally @version (prod-hosts@3)")
			}
			if len(v.Set) > 0 {
				bad(path+".set", "set applies to a template")
			}
		default:
			addGenerated(v, path)
		}
	}
	checkSource(s.Baseline, "spec.baseline")
	seen := map[string]bool{}
	for i, c := range s.Candidates {
		path := fmt.Sprintf("spec.candidates[%d]", i)
		switch {
		case !namePattern.MatchString(c.Name):
			bad(path+".name", "is required and must match %s (it names the variant's stream)", namePattern)
		case c.Name == BaselineVariant:
			bad(path+".name", "%s is the baseline's name", BaselineVariant)
		case seen[c.Name]:
			bad(path+".name", "duplicate candidate name %q", c.Name)
		case len(StreamID(e.Metadata.Name, c.Name)) > 2*64+2:
			// unreachable while both parts match namePattern; kept so a
			// change of either bound cannot produce an invalid stream id
			bad(path+".name", "makes the stream id too long")
		}
		seen[c.Name] = true
		checkSource(c, path)
	}
	if len(req.Target.Candidates) == 0 && req.Target.Baseline == nil {
		return errs
	}
	if len(req.Target.Candidates) == 0 {
		// Only the baseline is generated: give the generator a harmless
		// candidate so it checks the baseline alone.
		req.Target.Candidates = []pipelinegen.Variant{{Name: "check", Template: "baseline"}}
	}
	if _, err := pipelinegen.Generate(req); err != nil {
		p := problem.From(err)
		for _, fe := range p.Errors {
			path, ok := mapPath(fe.Path, paths)
			if !ok {
				// The generator refused something the spec did not write
				// (the request is ours): report it, never drop it.
				path = "spec"
			}
			if strings.HasSuffix(path, ".name") {
				continue // names are checked above with the spec's own rules
			}
			errs = append(errs, problem.FieldError{Path: path, Message: fe.Message})
		}
		if len(p.Errors) == 0 {
			errs = append(errs, problem.FieldError{Path: "spec", Message: "the generator refused the variants: " + p.Error()})
		}
	}
	return errs
}

// mapPath turns a generator request path into the spec's path.
func mapPath(p string, paths map[string]string) (string, bool) {
	for prefix, to := range paths {
		if p == prefix {
			return to, true
		}
		if strings.HasPrefix(p, prefix+".") {
			return to + p[len(prefix):], true
		}
	}
	return "", false
}

func checkExprs(path string, exprs []string, limit int) []problem.FieldError {
	var errs []problem.FieldError
	if len(exprs) > limit {
		errs = append(errs, problem.FieldError{Path: path, Message: fmt.Sprintf("at most %d entries", limit)})
	}
	seen := map[string]bool{}
	for i, x := range exprs {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case strings.TrimSpace(x) == "":
			errs = append(errs, problem.FieldError{Path: p, Message: "must not be empty"})
		case len(x) > MaxExprLen:
			errs = append(errs, problem.FieldError{Path: p, Message: fmt.Sprintf("is longer than %d bytes", MaxExprLen)})
		case seen[x]:
			errs = append(errs, problem.FieldError{Path: p, Message: "is listed twice"})
		}
		seen[x] = true
	}
	return errs
}

func (s *Spec) checkCriteria() []problem.FieldError {
	var errs []problem.FieldError
	c := &s.Criteria
	pct := func(name string, v *float64, lo, hi float64) {
		if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
			errs = append(errs, problem.FieldError{Path: "spec.criteria." + name,
				Message: fmt.Sprintf("must be a percentage between %s and %s", fmtPct(lo), fmtPct(hi))})
		}
	}
	pct("min_series_reduction_pct", c.MinSeriesReductionPct, 0, 100)
	pct("min_critical_retention_pct", c.MinCriticalRetentionPct, 0, 100)
	pct("max_aggregate_error_pct", c.MaxAggregateErrorPct, 0, 100)
	// A negative minimum cost reduction accepts a candidate that costs up
	// to that much more (e.g. -5 for a fidelity-first change).
	pct("min_cost_reduction_pct", c.MinCostReductionPct, -100, 100)
	if c.MinSeriesReductionPct == nil && c.MinCriticalRetentionPct == nil && c.MaxAggregateErrorPct == nil && c.MinCostReductionPct == nil && c.MaxQueryErrorPct == nil {
		errs = append(errs, problem.FieldError{Path: "spec.criteria", Message: "set at least one criterion: an experiment needs a definition of success"})
	}
	if c.MinCriticalRetentionPct != nil && len(s.Critical) == 0 {
		errs = append(errs, problem.FieldError{Path: "spec.criteria.min_critical_retention_pct", Message: "needs spec.critical: the entities whose retention is measured"})
	}
	if c.MaxAggregateErrorPct != nil && len(s.Aggregates) == 0 {
		errs = append(errs, problem.FieldError{Path: "spec.criteria.max_aggregate_error_pct", Message: "needs spec.aggregates: the values whose error is measured"})
	}
	if c.PriceModel != "" && !priceModel.MatchString(c.PriceModel) {
		errs = append(errs, problem.FieldError{Path: "spec.criteria.price_model", Message: "must be a price model name such as datadog or self-hosted"})
	}
	return errs
}

// CheckPlan reports what is wrong with a rollout plan used on its own (a
// rollout resource), defaulting an empty strategy to all. Paths start
// with spec.rollout, as in an experiment.
func CheckPlan(p *Rollout) []problem.FieldError {
	if p.Strategy == "" {
		p.Strategy = RolloutAll
	}
	return p.check()
}

func (r *Rollout) check() []problem.FieldError {
	var errs []problem.FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, problem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch r.Strategy {
	case RolloutAll:
		if len(r.Steps) > 0 {
			bad("spec.rollout.steps", "apply to strategy staged only")
		}
		if r.Pause != 0 {
			bad("spec.rollout.pause", "applies to strategy staged only")
		}
	case RolloutStaged:
		if len(r.Steps) == 0 {
			bad("spec.rollout.steps", "are required for strategy staged (percent of the agents, e.g. [10, 50, 100])")
		}
		if len(r.Steps) > 20 {
			bad("spec.rollout.steps", "at most 20 steps")
		}
		prev := 0
		for i, st := range r.Steps {
			if st <= prev || st > 100 {
				bad(fmt.Sprintf("spec.rollout.steps[%d]", i), "must be a percentage above the previous step and at most 100")
			}
			prev = st
		}
		if len(r.Steps) > 0 && r.Steps[len(r.Steps)-1] != 100 {
			bad("spec.rollout.steps", "the last step must be 100 (every agent)")
		}
		if p := r.Pause.Std(); p < 0 || p > MaxPause {
			bad("spec.rollout.pause", "must be between 0s and %s", MaxPause)
		}
	default:
		bad("spec.rollout.strategy", "must be all or staged")
	}
	return errs
}

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// related reports whether path is, contains or lies under a path in errs.
func related(path string, errs []problem.FieldError) bool {
	under := func(a, b string) bool { // a lies under b
		return strings.HasPrefix(a, b+".") || strings.HasPrefix(a, b+"[")
	}
	for _, e := range errs {
		if e.Path == path || under(path, e.Path) || under(e.Path, path) {
			return true
		}
	}
	return false
}
