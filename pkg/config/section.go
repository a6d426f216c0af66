package config

import (
	"fmt"
	"reflect"
	"time"
)

// Section is one project's own settings: a pointer to a struct whose fields
// carry `yaml`, `flag` and `usage` tags like Server's, holding its defaults.
// Validate reports every problem at once, each naming its YAML key
// (`analytics.max_series: must be positive`).
type Section interface {
	Validate() error
}

type section struct {
	key      string
	settings Section
}

// AddSection registers a project's settings under key: the YAML section
// `key:`, flags `--key-...`, environment PHOENIX_KEY_.... Server may declare
// shared keys in the same YAML section (the listen addresses); a key is
// owned by one of them, never both. Register sections before Bind: the
// flags are created from them. Adding a key twice panics (two owners).
func (c *Server) AddSection(key string, settings Section) {
	v := reflect.ValueOf(settings)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: section %q must be a pointer to a struct, got %T", key, settings))
	}
	for _, s := range c.sections {
		if s.key == key {
			panic(fmt.Sprintf("config: section %q registered twice", key))
		}
	}
	c.sections = append(c.sections, section{key: key, settings: settings})
}

// SectionOf returns the settings registered under key, first registering
// defaults() when there are none (a Server built by hand in a test, or a
// service started without the runner). A section of another type under the
// same key is a programming error and panics.
func SectionOf[T any, P interface {
	*T
	Section
}](c *Server, key string, defaults func() T) P {
	for _, s := range c.sections {
		if s.key != key {
			continue
		}
		p, ok := s.settings.(P)
		if !ok {
			panic(fmt.Sprintf("config: section %q is %T, not %T", key, s.settings, P(nil)))
		}
		return p
	}
	v := defaults()
	p := P(&v)
	c.AddSection(key, p)
	return p
}

// HasSection reports whether a section is registered under key.
func (c *Server) HasSection(key string) bool {
	for _, s := range c.sections {
		if s.key == key {
			return true
		}
	}
	return false
}

// isLeaf reports whether a struct field is one setting rather than a group.
func isLeaf(t reflect.Type) bool {
	return t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Duration]()
}
