package shared

import (
	"fmt"
	"sort"
	"strings"
)

// Validate checks cfg against the schema: every attribute known, every required one present,
// every value of the declared type. The error names the attribute and says what to do.
func (s *Schema) Validate(cfg Config) error {
	known := make(map[string]Attribute, len(s.Attributes))
	for _, a := range s.Attributes {
		known[a.Name] = a
	}
	var names []string
	for name := range cfg {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a, ok := known[name]
		if !ok {
			return InvalidConfig(fmt.Sprintf("unknown attribute %q; the attributes this source accepts are %s", name, s.names()))
		}
		if err := checkType(a, cfg[name]); err != nil {
			return err
		}
	}
	for _, a := range s.Attributes {
		if _, ok := cfg[a.Name]; a.Required && !ok {
			return InvalidConfig(fmt.Sprintf("missing required attribute %q (%s)", a.Name, a.Description))
		}
	}
	return nil
}

func checkType(a Attribute, v any) error {
	ok := false
	switch a.Type {
	case TypeString:
		_, ok = v.(string)
	case TypeInt:
		_, ok = v.(int64)
	case TypeBool:
		_, ok = v.(bool)
	}
	if !ok {
		return InvalidConfig(fmt.Sprintf("attribute %q must be a %s, got %s", a.Name, a.Type, describe(v)))
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64, int, float64:
		return "a number"
	case bool:
		return "a bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}

func (s *Schema) names() string {
	var n []string
	for _, a := range s.Attributes {
		n = append(n, a.Name)
	}
	return strings.Join(n, ", ")
}

// Lookup helpers return the typed value or the fallback when absent.

func (c Config) String(name, fallback string) string {
	if v, ok := c[name].(string); ok {
		return v
	}
	return fallback
}

func (c Config) Int(name string, fallback int64) int64 {
	if v, ok := c[name].(int64); ok {
		return v
	}
	return fallback
}

func (c Config) Bool(name string, fallback bool) bool {
	if v, ok := c[name].(bool); ok {
		return v
	}
	return fallback
}
