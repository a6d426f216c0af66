// Package config loads typed configuration from defaults, an optional YAML
// file, PHOENIX_* environment variables and command-line flags, in that order
// of increasing precedence.
//
// A config struct declares each setting once: `yaml:"key"` names it in files,
// `flag:"name"` on the command line (nested structs prefix their fields with
// their own flag tag), and the environment variable is PHOENIX_ plus the flag
// name upper-cased with dashes turned into underscores. Defaults come from one
// constructor per struct, so there is a single place to read them.
//
// Server holds the shared settings; each project registers its own struct as
// a Section under its YAML section name (Server.AddSection), and the loader
// treats it as if it were one more field of Server: same tags, same
// precedence, and unknown keys are rejected across the shared and the
// project's keys of a section.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable Phoenix reads.
const EnvPrefix = "PHOENIX_"

// Binder registers a config struct's flags and, after parsing, merges the
// sources into the struct.
type Binder struct {
	target   any
	sections []section
	fs       *pflag.FlagSet
	fields   []boundField
}

type boundField struct {
	flag  string
	env   string
	value reflect.Value // the setting itself, addressable
	usage string
}

// Bind registers one flag per tagged field of *target on fs, and of each
// section registered on it when target is a *Server. target must hold its
// defaults already: they are shown in --help.
func Bind(fs *pflag.FlagSet, target any) *Binder {
	b := &Binder{target: target, fs: fs}
	v := reflect.ValueOf(target).Elem()
	b.walk(v, "")
	if srv, ok := target.(*Server); ok {
		b.sections = srv.sections
		for _, sec := range b.sections {
			b.walk(reflect.ValueOf(sec.settings).Elem(), flagName(sec.key))
		}
	}
	return b
}

// flagName turns a YAML key into its flag form.
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

func (b *Binder) walk(v reflect.Value, prefix string) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("flag")
		if name == "" || name == "-" {
			continue
		}
		if prefix != "" {
			name = prefix + "-" + name
		}
		fv := v.Field(i)
		if !isLeaf(sf.Type) {
			b.walk(fv, name)
			continue
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		usage := sf.Tag.Get("usage") + " (env " + env + ")"
		b.fields = append(b.fields, boundField{flag: name, env: env, value: fv, usage: usage})
		if fv.Kind() == reflect.Bool {
			b.fs.Bool(name, fv.Bool(), usage)
		} else {
			// Flags keep the raw text; Load parses it with the field's type so
			// flags, env and YAML share one parser and one error format.
			b.fs.Var(&rawValue{s: format(fv), typ: typeName(fv)}, name, usage)
		}
	}
}

// Load merges, over the defaults already in the target: the YAML file at path
// (skipped when path is empty), then the environment, then the flags the user
// set. Every problem found is reported at once.
func (b *Binder) Load(path string) error {
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		if err := b.decodeYAML(data); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	for _, f := range b.fields {
		if s, ok := os.LookupEnv(f.env); ok {
			if err := set(f.value, s); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", f.env, err))
			}
		}
		if fl := b.fs.Lookup(f.flag); fl != nil && fl.Changed {
			if err := set(f.value, fl.Value.String()); err != nil {
				errs = append(errs, fmt.Errorf("flag --%s: %w", f.flag, err))
			}
		}
	}
	return errors.Join(errs...)
}

// decodeYAML decodes one document into the target and into each section
// (the value under the section's key), then rejects every key that neither
// the target nor a section declares. yaml.v3 checks known fields only for a
// whole document decoded into one type, so the check is done here, in its
// message format.
func (b *Binder) decodeYAML(data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var problems []string
	collect := func(err error) error {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			problems = append(problems, te.Errors...)
			return nil
		}
		return err
	}
	if err := collect(doc.Decode(b.target)); err != nil {
		return err
	}
	top := resolve(&doc)
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = resolve(top.Content[0])
	}
	for _, sec := range b.sections {
		if n := valueOf(top, sec.key); n != nil {
			if err := collect(n.Decode(sec.settings)); err != nil {
				return err
			}
		}
	}
	rootType := reflect.TypeOf(b.target).Elem()
	problems = append(problems, unknownKeys(top, "type "+rootType.String(), "", func(key string) ([]reflect.Type, bool) {
		types, ok := yamlField(rootType, key)
		for _, sec := range b.sections {
			if sec.key == key {
				types, ok = append(types, reflect.TypeOf(sec.settings).Elem()), true
			}
		}
		return types, ok
	})...)
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// valueOf returns the value under key in a mapping, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// unknownKeys lists, in yaml.v3's words, each key of mapping n (and of the
// mappings below it) that lookup does not know. lookup returns the struct
// types a key decodes into (several when the shared config and a project
// share a section); where names the mapping in messages, path is its YAML
// path ("" at the top).
func unknownKeys(n *yaml.Node, where, path string, lookup func(key string) ([]reflect.Type, bool)) []string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Tag == "!!merge" {
			// `<<: *base` (or a list of them) merges mappings into this one.
			merged := []*yaml.Node{v}
			if v != nil && v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				out = append(out, unknownKeys(m, where, path, lookup)...)
			}
			continue
		}
		types, ok := lookup(k.Value)
		if !ok {
			out = append(out, fmt.Sprintf("line %d: field %s not found in %s", k.Line, k.Value, where))
			continue
		}
		var groups []reflect.Type
		for _, t := range types {
			if !isLeaf(t) {
				groups = append(groups, t)
			}
		}
		if len(groups) == 0 || v == nil || v.Kind != yaml.MappingNode {
			continue // a scalar, a list, or a type error yaml.v3 already reported
		}
		sub := k.Value
		if path != "" {
			sub = path + "." + k.Value
		}
		// Named by YAML path: the Go types behind a section are the
		// project's business, the path is what the user wrote.
		out = append(out, unknownKeys(v, "section "+sub, sub, func(key string) ([]reflect.Type, bool) {
			var all []reflect.Type
			found := false
			for _, g := range groups {
				if ts, ok := yamlField(g, key); ok {
					all, found = append(all, ts...), true
				}
			}
			return all, found
		})...)
	}
	return out
}

// yamlField returns the type of t's field decoded from key (following
// `,inline` structs and pointers), as yaml.v3 maps keys to fields.
func yamlField(t reflect.Type, key string) ([]reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			if ts, ok := yamlField(sf.Type, key); ok {
				return ts, true
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if name == key {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			return []reflect.Type{ft}, true
		}
	}
	return nil, false
}

func format(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

func set(v reflect.Value, s string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q", s)
		}
		v.SetInt(int64(d))
		return nil
	case []string:
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		v.Set(reflect.ValueOf(out))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		x, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		v.SetBool(x)
	case reflect.Int, reflect.Int64, reflect.Int32:
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(x)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(x)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// rawValue is a flag that stores its text; Type names the setting's kind
// for --help.
type rawValue struct{ s, typ string }

func (v *rawValue) String() string     { return v.s }
func (v *rawValue) Set(s string) error { v.s = s; return nil }
func (v *rawValue) Type() string       { return v.typ }

func typeName(v reflect.Value) string {
	switch v.Interface().(type) {
	case time.Duration:
		return "duration"
	case []string:
		return "strings"
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "int"
	case reflect.Float64:
		return "float"
	}
	return "string"
}
