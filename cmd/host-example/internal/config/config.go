package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// File is a parsed configuration file. Source block bodies are left for Source.Decode.
type File struct {
	// Path is the file name as the user gave it; diagnostics use it.
	Path string
	// Dir is the absolute directory holding the file; relative paths are resolved against it.
	Dir string
	// Repository is the absolute repository path, or "" when the file sets none.
	Repository string
	// StateFile is the absolute path of the state file `backup --stdout` keeps its
	// incrementals' bases in (state_file = "…"), or "" when the file sets none.
	StateFile string
	// Plugins maps a source type to its plugin block.
	Plugins map[string]*Plugin
	// Sources are the source blocks in file order.
	Sources []*Source
	// Retention is the retention block, or nil.
	Retention *Retention

	body    hcl.Body
	evalCtx *hcl.EvalContext
}

// Plugin is a plugin "TYPE" { path = "…" } block.
type Plugin struct {
	Type string
	// Path is the plugin executable, absolute.
	Path      string
	DeclRange hcl.Range
}

// Source is a source "TYPE" "NAME" { … } block, its body not yet decoded.
type Source struct {
	Type      string
	Name      string
	DeclRange hcl.Range

	body    hcl.Body
	evalCtx *hcl.EvalContext
}

// Retention is a retention { keep_last = N  keep_daily = N } block: the policy `forget` applies
// when no --keep-* flag is given. An attribute left out is 0 (that rule keeps nothing).
type Retention struct {
	KeepLast  int
	KeepDaily int
	// KeepBinlogWithin (keep_binlog_within = "7d") keeps the binlog archive of that span back
	// from now, and everything a kept snapshot's window needs; 0 keeps the whole archive.
	KeepBinlogWithin time.Duration
	DeclRange        hcl.Range
}

// Options adjust how a file is read.
type Options struct {
	// LookupEnv backs the env() function; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "repository"}, {Name: "state_file"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "plugin", LabelNames: []string{"type"}},
		{Type: "source", LabelNames: []string{"type", "name"}},
		{Type: "retention"},
	},
}

var retentionSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "keep_last"}, {Name: "keep_daily"}, {Name: "keep_binlog_within"}},
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "path", Required: true}},
}

// Load reads and parses the configuration file at path.
func Load(path string, opts Options) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("configuration file %s does not exist", path)
		}
		return nil, fmt.Errorf("reading configuration file: %w", err)
	}
	return Parse(src, path, opts)
}

// Parse parses configuration text; filename names it in diagnostics and anchors relative paths.
func Parse(src []byte, filename string, opts Options) (*File, error) {
	abs, err := filepath.Abs(filename)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", filename, err)
	}
	f := &File{
		Path:    filename,
		Dir:     filepath.Dir(abs),
		Plugins: map[string]*Plugin{},
		evalCtx: newEvalContext(opts.LookupEnv),
	}
	hf, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	f.body = hf.Body
	content, diags := hf.Body.Content(fileSchema)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}

	if attr, ok := content.Attributes["repository"]; ok {
		v, d := stringAttr(attr, f.evalCtx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			f.Repository = f.resolve(v)
		}
	}

	if attr, ok := content.Attributes["state_file"]; ok {
		v, d := stringAttr(attr, f.evalCtx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			f.StateFile = f.resolve(v)
		}
	}

	for _, b := range content.Blocks {
		switch b.Type {
		case "plugin":
			diags = append(diags, f.addPlugin(b)...)
		case "source":
			diags = append(diags, f.addSource(b)...)
		case "retention":
			diags = append(diags, f.addRetention(b)...)
		}
	}
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	return f, nil
}

func (f *File) addPlugin(b *hcl.Block) hcl.Diagnostics {
	typ := b.Labels[0]
	if prev, ok := f.Plugins[typ]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate plugin block",
			Detail:   fmt.Sprintf("A plugin block for source type %q was already declared at %s; keep one.", typ, pos(prev.DeclRange)),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	content, diags := b.Body.Content(pluginSchema)
	if diags.HasErrors() {
		return diags
	}
	path, d := stringAttr(content.Attributes["path"], f.evalCtx)
	if d.HasErrors() {
		return d
	}
	if path == "" {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Empty plugin path",
			Detail:   fmt.Sprintf("The argument \"path\" of plugin %q must name the plugin executable.", typ),
			Subject:  content.Attributes["path"].Expr.Range().Ptr(),
		}}
	}
	f.Plugins[typ] = &Plugin{Type: typ, Path: f.resolve(path), DeclRange: b.DefRange}
	return nil
}

func (f *File) addRetention(b *hcl.Block) hcl.Diagnostics {
	if f.Retention != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate retention block",
			Detail:   fmt.Sprintf("A retention block was already declared at %s; keep one.", pos(f.Retention.DeclRange)),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	content, diags := b.Body.Content(retentionSchema)
	if diags.HasErrors() {
		return diags
	}
	ret := &Retention{DeclRange: b.DefRange}
	for _, a := range []struct {
		name string
		dst  *int
	}{{"keep_last", &ret.KeepLast}, {"keep_daily", &ret.KeepDaily}} {
		attr, ok := content.Attributes[a.name]
		if !ok {
			continue
		}
		n, d := countAttr(attr, f.evalCtx)
		if d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		*a.dst = n
	}
	if attr, ok := content.Attributes["keep_binlog_within"]; ok {
		d, dd := spanAttr(attr, f.evalCtx)
		diags = append(diags, dd...)
		ret.KeepBinlogWithin = d
	}
	if diags.HasErrors() {
		return diags
	}
	if ret.KeepLast == 0 && ret.KeepDaily == 0 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Empty retention policy",
			Detail:   "The retention block keeps nothing; set keep_last and/or keep_daily to a number above 0.",
			Subject:  b.DefRange.Ptr(),
		}}
	}
	f.Retention = ret
	return nil
}

// countAttr reads a whole number from 0 to 1000000.
// spanAttr reads a span such as "7d", "36h" or "90m" (units s, m, h, d, w).
func spanAttr(attr *hcl.Attribute, ctx *hcl.EvalContext) (time.Duration, hcl.Diagnostics) {
	v, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return 0, diags
	}
	bad := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value",
		Detail:   fmt.Sprintf("The argument %q must be a span such as \"7d\", \"36h\" or \"90m\" (units s, m, h, d, w).", attr.Name),
		Subject:  attr.Expr.Range().Ptr(),
	}}
	if v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.String) {
		return 0, bad
	}
	d, err := ParseSpan(v.AsString())
	if err != nil {
		return 0, bad
	}
	return d, nil
}

// ParseSpan reads a span: a whole number and a unit, s, m, h, d (24 h) or w (7 d).
func ParseSpan(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 || units[s[len(s)-1]] == 0 {
		return 0, fmt.Errorf("span %q: want a number and a unit (s, m, h, d, w), e.g. \"7d\"", s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("span %q: want a whole number above 0 before the unit", s)
	}
	return time.Duration(n) * units[s[len(s)-1]], nil
}

func countAttr(attr *hcl.Attribute, ctx *hcl.EvalContext) (int, hcl.Diagnostics) {
	v, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return 0, diags
	}
	bad := hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Incorrect attribute value type",
		Detail:   fmt.Sprintf("The argument %q must be a whole number from 0 to 1000000.", attr.Name),
		Subject:  attr.Expr.Range().Ptr(),
	}}
	if v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.Number) {
		return 0, bad
	}
	n, ok := toInt64(v.AsBigFloat())
	if !ok || n < 0 || n > 1000000 {
		return 0, bad
	}
	return int(n), nil
}

// A source's type names its plugin (pagetrack-TYPE); its name is a label in snapshots, state
// files and messages. Neither may be anything a path could be made of.
var (
	sourceTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	sourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

func (f *File) addSource(b *hcl.Block) hcl.Diagnostics {
	typ, name := b.Labels[0], b.Labels[1]
	if typ == "" || name == "" {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid source block",
			Detail:   "A source block needs a type and a name, e.g. source \"mysql\" \"primary\" { … }.",
			Subject:  b.DefRange.Ptr(),
		}}
	}
	if !sourceTypeRE.MatchString(typ) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid source type",
			Detail:   fmt.Sprintf("The source type %q is not a plugin name: lower-case letters, digits, - and _, e.g. \"mysql\".", typ),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
	if !sourceNameRE.MatchString(name) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid source name",
			Detail:   fmt.Sprintf("The source name %q is not a simple name: up to 64 letters, digits, ., - and _, starting with a letter or digit, e.g. \"primary\". It names the source in snapshots and state files, never a path.", name),
			Subject:  b.LabelRanges[1].Ptr(),
		}}
	}
	for _, prev := range f.Sources {
		if prev.Name == name {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Duplicate source name",
				Detail:   fmt.Sprintf("A source named %q was already declared at %s; source names must be unique.", name, pos(prev.DeclRange)),
				Subject:  b.DefRange.Ptr(),
			}}
		}
	}
	f.Sources = append(f.Sources, &Source{Type: typ, Name: name, DeclRange: b.DefRange, body: b.Body, evalCtx: f.evalCtx})
	return nil
}

// Source picks the source block to use: the one named name, or the only one when name is "".
func (f *File) Source(name string) (*Source, error) {
	start := f.body.MissingItemRange()
	if len(f.Sources) == 0 {
		return nil, &Error{Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Missing source block",
			Detail:   "The configuration declares no source block; add one, e.g. source \"mysql\" \"primary\" { … }, with the attributes the plugin documents.",
			Subject:  &start,
		}}}
	}
	names := make([]string, len(f.Sources))
	for i, s := range f.Sources {
		names[i] = fmt.Sprintf("%q", s.Name)
	}
	if name == "" {
		if len(f.Sources) == 1 {
			return f.Sources[0], nil
		}
		return nil, &Error{Diags: hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Several source blocks",
			Detail:   fmt.Sprintf("The configuration declares the sources %s; choose one with --source NAME.", strings.Join(names, ", ")),
			Subject:  f.Sources[1].DeclRange.Ptr(),
		}}}
	}
	for _, s := range f.Sources {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, &Error{Diags: hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "No such source",
		Detail:   fmt.Sprintf("There is no source block named %q; the configuration declares %s.", name, strings.Join(names, ", ")),
		Subject:  &start,
	}}}
}

func (f *File) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.Dir, p)
}

func stringAttr(attr *hcl.Attribute, ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	v, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() || !v.IsKnown() || !v.Type().Equals(cty.String) {
		return "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("The argument %q must be a string.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return v.AsString(), nil
}

// Error is a set of configuration diagnostics. Its message lists each as
// FILE:LINE:COLUMN: SUMMARY: DETAIL, one per line, with secret values redacted.
type Error struct {
	Diags   hcl.Diagnostics
	secrets []string
}

func (e *Error) Error() string {
	var lines []string
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		lines = append(lines, formatDiag(d))
	}
	if len(lines) == 0 {
		return "invalid configuration"
	}
	return redact(strings.Join(lines, "\n"), e.secrets)
}

func formatDiag(d *hcl.Diagnostic) string {
	msg := d.Summary
	if d.Detail != "" {
		msg += ": " + d.Detail
	}
	if d.Subject == nil {
		return msg
	}
	return pos(*d.Subject) + ": " + msg
}

// pos formats a range's start as FILE:LINE:COLUMN.
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
