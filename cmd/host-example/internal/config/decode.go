package config

import (
	"fmt"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/pagetrack/pagetrack/shared"
	"github.com/zclconf/go-cty/cty"
)

// Spec builds the hcldec spec of a source block from the schema its plugin publishes.
func Spec(schema *shared.Schema) (hcldec.ObjectSpec, error) {
	spec := hcldec.ObjectSpec{}
	for _, a := range schema.Attributes {
		if a.Name == "" {
			return nil, fmt.Errorf("the plugin's schema has an attribute without a name")
		}
		if _, dup := spec[a.Name]; dup {
			return nil, fmt.Errorf("the plugin's schema declares attribute %q twice", a.Name)
		}
		var t cty.Type
		switch a.Type {
		case shared.TypeString:
			t = cty.String
		case shared.TypeInt:
			t = cty.Number
		case shared.TypeBool:
			t = cty.Bool
		default:
			return nil, fmt.Errorf("the plugin's schema gives attribute %q a type this host does not know (%d); use a host-example built from the same release as the plugin", a.Name, int(a.Type))
		}
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: t, Required: a.Required}
	}
	return spec, nil
}

// Decode decodes the source block's body with the plugin's schema into plain values: string,
// int64 or bool per attribute; attributes left out are absent from the result. Errors are
// *Error diagnostics naming file, line, column and attribute, with secret values redacted.
func (s *Source) Decode(schema *shared.Schema) (shared.Config, error) {
	spec, err := Spec(schema)
	if err != nil {
		return nil, err
	}
	val, diags := hcldec.Decode(s.body, spec, s.evalCtx)
	secrets := sensitiveValues(schema, val)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, secrets: secrets}
	}

	cfg := shared.Config{}
	for _, a := range schema.Attributes {
		v := val.GetAttr(a.Name)
		rng := hcldec.SourceRange(s.body, spec[a.Name])
		if v.IsNull() {
			if a.Required {
				diags = append(diags, attrDiag(rng, "Missing required argument", fmt.Sprintf("The argument %q is required and must not be null.", a.Name)))
			}
			continue
		}
		if !v.IsKnown() {
			diags = append(diags, attrDiag(rng, "Unknown value", fmt.Sprintf("The value of %q cannot be known when the configuration is read.", a.Name)))
			continue
		}
		v, _ = v.Unmark()
		switch a.Type {
		case shared.TypeString:
			cfg[a.Name] = v.AsString()
		case shared.TypeBool:
			cfg[a.Name] = v.True()
		case shared.TypeInt:
			n, ok := toInt64(v.AsBigFloat())
			if !ok {
				diags = append(diags, attrDiag(rng, "Incorrect attribute value type", fmt.Sprintf("Inappropriate value for attribute %q: a whole number between %d and %d is required.", a.Name, int64(-1<<63), int64(1<<63-1))))
				continue
			}
			cfg[a.Name] = n
		}
	}
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, secrets: secrets}
	}
	return cfg, nil
}

func toInt64(f *big.Float) (int64, bool) {
	if !f.IsInt() {
		return 0, false
	}
	n, acc := f.Int64()
	return n, acc == big.Exact
}

func attrDiag(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// sensitiveValues collects whatever string values of sensitive attributes decoded, so that
// they can be scrubbed from any message.
func sensitiveValues(schema *shared.Schema, val cty.Value) []string {
	if val.IsNull() || !val.IsKnown() || !val.Type().IsObjectType() {
		return nil
	}
	var out []string
	for _, a := range schema.Attributes {
		if !a.Sensitive || !val.Type().HasAttribute(a.Name) {
			continue
		}
		v, _ := val.GetAttr(a.Name).Unmark()
		if v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.String) {
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

func redact(msg string, secrets []string) string { return shared.Redact(msg, secrets...) }
