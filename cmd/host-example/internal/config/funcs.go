package config

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

func newEvalContext(lookup func(string) (string, bool)) *hcl.EvalContext {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &hcl.EvalContext{
		Functions: map[string]function.Function{"env": envFunc(lookup)},
	}
}

// envFunc is env("NAME"): the value of an environment variable, an error when it is unset
// (set but empty is allowed).
func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable; an error if it is not set.",
		Params: []function.Parameter{{
			Name: "name",
			Type: cty.String,
		}},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, function.NewArgErrorf(0, "the variable name must not be empty")
			}
			v, ok := lookup(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %q is not set; export it before running host-example", name)
			}
			return cty.StringVal(v), nil
		},
	})
}
