package pipelinegen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// The collector config is built as a yaml.v3 node tree rather than from Go
// maps: maps marshal in key order, which would put `exporters` before
// `receivers` and scramble processor order. Nodes keep the order we choose,
// so the same input always gives the same bytes.

// mapping builds a mapping node from alternating keys and values. A nil
// value (or an empty mapping/sequence marked optional) is skipped by callers.
func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		add(n, kv[i].(string), kv[i+1])
	}
	return n
}

// add appends key: value to a mapping node.
func add(n *yaml.Node, key string, value any) {
	n.Content = append(n.Content, str(key), node(value))
}

// seq builds a block sequence.
func seq(items ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		n.Content = append(n.Content, node(it))
	}
	return n
}

// flowSeq builds a [a, b] sequence of strings, used for pipeline component
// lists where the one-line form reads best.
func flowSeq(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, it := range items {
		n.Content = append(n.Content, str(it))
	}
	return n
}

func strSeq(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range items {
		n.Content = append(n.Content, str(it))
	}
	return n
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// node converts the few Go value kinds the generator uses into nodes.
// Arbitrary user-provided maps (a custom exporter block) are converted with
// sorted keys so their output is deterministic too.
func node(v any) *yaml.Node {
	switch x := v.(type) {
	case *yaml.Node:
		return x
	case string:
		return str(x)
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(x)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10)}
	case float64:
		// JSON numbers arrive as float64; integral ones are written as
		// integers so int fields of collector configs accept them.
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(int64(x), 10)}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(x, 'g', -1, 64)}
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: x.String()}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: x.String()}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case []string:
		return strSeq(x)
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range x {
			n.Content = append(n.Content, node(it))
		}
		return n
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			add(n, k, x[k])
		}
		return n
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range keys {
			add(n, k, x[k])
		}
		return n
	default:
		panic(fmt.Sprintf("pipelinegen: unsupported YAML value %T", v))
	}
}

// emptyMap is `{}`: a component with only defaults.
func emptyMap() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
}

// encode renders a document with two-space indentation.
func encode(doc *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode collector config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode collector config: %w", err)
	}
	return buf.Bytes(), nil
}
