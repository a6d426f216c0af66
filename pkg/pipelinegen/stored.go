package pipelinegen

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// Bounds of a stored config given as an experiment variant.
const (
	MaxStoredConfigBytes = 1 << 20
	MaxStoredProcessors  = 64
)

// fanOutOwn are the processor types the fan-out sets itself around every
// variant (memory_limiter first, resource detection for host metrics,
// batch last), so a stored config's own are left out.
var fanOutOwn = []string{"memory_limiter", "batch", "resource_detection", "resourcedetection"}

// storedProcessors reads the processors a stored (production) collector
// config applies to its metrics and renames them for variant, so the
// experiment runs exactly that pipeline between its own receiver and
// Phoenix ingest. The config's metrics pipeline is `metrics`, or its only
// `metrics/...` pipeline.
func storedProcessors(variant, config, path string) ([]processor, []problem.FieldError) {
	bad := func(format string, args ...any) ([]processor, []problem.FieldError) {
		return nil, []problem.FieldError{{Path: path + ".config", Message: fmt.Sprintf(format, args...)}}
	}
	if len(config) > MaxStoredConfigBytes {
		return bad("is %d bytes; the limit is %d", len(config), MaxStoredConfigBytes)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		return bad("is not a collector config: %v", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return bad("is not a collector config (a YAML mapping)")
	}
	root := doc.Content[0]
	pipelines := child(child(root, "service"), "pipelines")
	if pipelines == nil || pipelines.Kind != yaml.MappingNode {
		return bad("has no service::pipelines")
	}
	var pipe *yaml.Node
	var metrics []string
	for i := 0; i+1 < len(pipelines.Content); i += 2 {
		name := pipelines.Content[i].Value
		if name == "metrics" {
			pipe, metrics = pipelines.Content[i+1], []string{name}
			break
		}
		if strings.HasPrefix(name, "metrics/") {
			metrics = append(metrics, name)
			pipe = pipelines.Content[i+1]
		}
	}
	switch {
	case len(metrics) == 0:
		return bad("has no metrics pipeline")
	case len(metrics) > 1:
		return bad("has several metrics pipelines (%s) and none named metrics: which one is the variant is unclear", strings.Join(metrics, ", "))
	}
	ids := child(pipe, "processors")
	if ids != nil && ids.Kind != yaml.SequenceNode {
		return bad("service::pipelines::%s::processors is not a list", metrics[0])
	}
	defined := child(root, "processors")
	var out []processor
	if ids == nil {
		return out, nil
	}
	if len(ids.Content) > MaxStoredProcessors {
		return bad("has %d processors in its metrics pipeline; the limit is %d", len(ids.Content), MaxStoredProcessors)
	}
	for _, idNode := range ids.Content {
		id := idNode.Value
		typ, name, _ := strings.Cut(id, "/")
		if slices.Contains(fanOutOwn, typ) {
			continue
		}
		body := child(defined, id)
		if body == nil {
			return bad("processor %s of the metrics pipeline is not defined under processors", id)
		}
		renamed := typ + "/" + variant
		if name != "" {
			renamed += "-" + name
		}
		out = append(out, processor{id: renamed, body: body})
	}
	return out, nil
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
