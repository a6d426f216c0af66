package experiment

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/phoenix/pkg/problem"
)

// decoder fills Go values from a YAML node tree by their json tags (one name
// per field for YAML and JSON bodies alike), collecting every unknown field
// and every ill-typed value with its path instead of stopping at the first,
// because a spec is refused with all its problems listed.
type decoder struct {
	errs []problem.FieldError
}

// maxErrors bounds the errors of one document: a hostile body could
// otherwise make the answer as large as the input.
const maxErrors = 100

func (d *decoder) fail(path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		return
	}
	if path == "" {
		path = "(document)"
	}
	d.errs = append(d.errs, problem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode sets v (addressable) from n; path names n in errors.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		// Aliases let a small document expand without bound (billion laughs);
		// a spec never needs them.
		d.fail(path, "YAML aliases are not allowed")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent and null mean the same: the field keeps its zero value
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, "must be a string")
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(path, "must be a mapping")
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if v.MapIndex(reflect.ValueOf(k)).IsValid() {
				d.fail(join(path, k), "duplicate key")
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(n.Content[i+1], ev, join(path, k))
			v.SetMapIndex(reflect.ValueOf(k), ev)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, "must be a string")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.fail(path, "must be true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || n.Tag == "!!str" || err != nil || v.OverflowInt(i) {
			d.fail(path, "must be an integer")
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || n.Tag == "!!str" || err != nil {
			d.fail(path, "must be a number")
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if a field of an unsupported kind is added to a
		// spec type; the spec tests decode every field.
		d.fail(path, "cannot decode into %s", v.Type())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "must be a mapping")
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		idx, ok := fields[k]
		if !ok {
			d.fail(join(path, k), "unknown field (known: %s)", strings.Join(knownNames(fields), ", "))
			continue
		}
		if seen[k] {
			d.fail(join(path, k), "duplicate key")
			continue
		}
		seen[k] = true
		d.decode(n.Content[i+1], v.Field(idx), join(path, k))
	}
}

// fieldsOf maps a struct's json names to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = i
	}
	return out
}

func knownNames(fields map[string]int) []string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
