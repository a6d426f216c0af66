// Package config loads typed configuration from defaults, an optional YAML
// file, PHOENIX_* environment variables and command-line flags, in that order
// of increasing precedence.
//
// A config struct declares each setting once: `yaml:"key"` names it in files,
// `flag:"name"` on the command line (nested structs prefix their fields with
// their own flag tag), and the environment variable is PHOENIX_ plus the flag
// name upper-cased with dashes turned into underscores. Defaults come from one
// constructor per struct, so there is a single place to read them.
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
	target any
	fs     *pflag.FlagSet
	fields []boundField
}

type boundField struct {
	flag  string
	env   string
	path  []int
	usage string
}

// Bind registers one flag per tagged field of *target on fs. target must hold
// its defaults already: they are shown in --help.
func Bind(fs *pflag.FlagSet, target any) *Binder {
	b := &Binder{target: target, fs: fs}
	v := reflect.ValueOf(target).Elem()
	b.walk(v, v.Type(), "", nil)
	return b
}

func (b *Binder) walk(v reflect.Value, t reflect.Type, prefix string, path []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("flag")
		if name == "" || name == "-" {
			continue
		}
		if prefix != "" {
			name = prefix + "-" + name
		}
		p := append(append([]int(nil), path...), i)
		fv := v.Field(i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Duration]() {
			b.walk(fv, sf.Type, name, p)
			continue
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		usage := sf.Tag.Get("usage") + " (env " + env + ")"
		b.fields = append(b.fields, boundField{flag: name, env: env, path: p, usage: usage})
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
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(b.target); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	root := reflect.ValueOf(b.target).Elem()
	for _, f := range b.fields {
		fv := root.FieldByIndex(f.path)
		if s, ok := os.LookupEnv(f.env); ok {
			if err := set(fv, s); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", f.env, err))
			}
		}
		if fl := b.fs.Lookup(f.flag); fl != nil && fl.Changed {
			if err := set(fv, fl.Value.String()); err != nil {
				errs = append(errs, fmt.Errorf("flag --%s: %w", f.flag, err))
			}
		}
	}
	return errors.Join(errs...)
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
