package pipelinegen

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Bounds on a config's shape, checked before anything expensive sees it: a
// request's free-form block before Generate encodes it (an exporter config
// nested 3,000 levels took Generate 650 ms and 43 MB, and the collector
// up to 10 s and 518 MB), and a whole config before the collector runs.
const (
	// MaxConfigDepth is how deep a config nests, counting from the
	// document root (exporters::otlp::tls::ca_file is 4). Real collector
	// configs stay under 10.
	MaxConfigDepth = 32
	// MaxConfigValues bounds the keys, scalars and collections in one
	// config (aliases count every time they are used).
	MaxConfigValues = 20_000
	// MaxValidateBytes bounds a config given to the collector.
	MaxValidateBytes = 4 << 20
)

// CheckBlock bounds a free-form block of a request (an exporter's config)
// that will be written at path in the config (collector form, e.g.
// "exporters::otlp"). The error names the first path past a bound.
func CheckBlock(path string, block map[string]any) []problem.FieldError {
	w := shapeWalk{}
	w.value(path, strings.Count(path, "::")+1, block)
	return w.errs
}

// CheckConfig bounds a whole config before validation (see CheckBlock).
// A config that is not YAML passes: the collector reports that.
func CheckConfig(config []byte) []problem.FieldError {
	if len(config) > MaxValidateBytes {
		return []problem.FieldError{{Path: "", Message: fmt.Sprintf("config is %d bytes, at most %d", len(config), MaxValidateBytes)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil
	}
	w := shapeWalk{}
	w.node("", 0, &doc)
	return w.errs
}

// shapeWalk stops at the first bound crossed: one error is enough, and
// the walk itself must stay cheap on hostile input.
type shapeWalk struct {
	values int
	errs   []problem.FieldError
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "::" + key
}

// enter counts one value at depth; false once a bound is crossed.
func (w *shapeWalk) enter(path string, depth int) bool {
	if w.errs != nil {
		return false
	}
	w.values++
	switch {
	case depth > MaxConfigDepth:
		w.errs = []problem.FieldError{{Path: path, Message: fmt.Sprintf("nested deeper than %d levels", MaxConfigDepth)}}
	case w.values > MaxConfigValues:
		w.errs = []problem.FieldError{{Path: path, Message: fmt.Sprintf("config has more than %d values", MaxConfigValues)}}
	}
	return w.errs == nil
}

// value walks a decoded JSON block (map[string]any, []any, scalars).
func (w *shapeWalk) value(path string, depth int, v any) {
	if !w.enter(path, depth) {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the same input names the same path
		for _, k := range keys {
			w.value(join(path, k), depth+1, x[k])
		}
	case []any:
		for i, e := range x {
			w.value(join(path, strconv.Itoa(i)), depth+1, e)
		}
	}
}

// node walks a parsed YAML document; the document node and the root
// mapping are depth 0, top-level keys depth 1.
func (w *shapeWalk) node(path string, depth int, n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.node(path, depth, c)
		}
		return
	case yaml.AliasNode:
		if n.Alias != nil {
			w.node(path, depth, n.Alias)
		}
		return
	}
	if !w.enter(path, depth) {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.node(join(path, n.Content[i].Value), depth+1, n.Content[i+1])
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.node(join(path, strconv.Itoa(i)), depth+1, c)
		}
	}
}

// Per-caller bounds on validations that run the collector (cached answers
// are free): a viewer may only try configs, an operator deploys them.
const (
	DefaultViewerValidations   = 1
	DefaultOperatorValidations = 2
)

// CallerLimits bounds validations in progress per caller, by role.
type CallerLimits struct {
	Viewer   int // role viewer (and any unknown role)
	Operator int // roles operator and admin
}

func (l CallerLimits) of(role string) int {
	switch role {
	case "operator", "admin":
		if l.Operator > 0 {
			return l.Operator
		}
		return DefaultOperatorValidations
	default:
		if l.Viewer > 0 {
			return l.Viewer
		}
		return DefaultViewerValidations
	}
}

type callerKey struct{}

type caller struct{ id, role string }

// WithCaller marks ctx with who asks for a validation, so Validate applies
// that caller's limit (CallerLimits). Without it (CLI, internal calls) only
// the global pool applies.
func WithCaller(ctx context.Context, id, role string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller{id: id, role: role})
}

func callerOf(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok && c.id != ""
}

// errTooManyForCaller is returned when a caller has its limit of
// validations running.
func errTooManyForCaller(limit int) error {
	return problem.TooManyRequests(2*time.Second, "%d config validations of yours are already running; retry when one finishes", limit)
}
