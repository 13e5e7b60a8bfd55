package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagetrack/pagetrack/cmd/host-example/internal/config"
	"github.com/pagetrack/pagetrack/shared"
)

func (e *env) loadConfig(path string) (*config.File, error) {
	return config.Load(path, config.Options{LookupEnv: lookupEnv(e.opts)})
}

// repoPath picks the repository: -r, else the configuration's repository attribute.
func repoPath(flagValue string, f *config.File) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if f != nil && f.Repository != "" {
		return f.Repository, nil
	}
	if f != nil {
		return "", usageErrorf("no repository: pass -r REPO, or set repository = \"…\" in %s", f.Path)
	}
	return "", usageErrorf("no repository: pass -r REPO (or -c CONFIG with repository = \"…\" in it)")
}

var sourceTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// pluginRef decides which executable serves a source type: --plugin, else the configuration's
// plugin block, else Options.PluginPath, else pagetrack-TYPE next to the host-example
// executable.
func (e *env) pluginRef(typ, flagPath string, f *config.File) (PluginRef, error) {
	if !sourceTypeRE.MatchString(typ) {
		return PluginRef{}, fmt.Errorf("source type %q is not a plugin name (lower-case letters, digits, - and _)", typ)
	}
	ref := PluginRef{Type: typ}
	switch {
	case flagPath != "":
		ref.Path, ref.Origin = flagPath, "the --plugin flag"
	case f != nil && f.Plugins[typ] != nil:
		p := f.Plugins[typ]
		ref.Path, ref.Origin = p.Path, fmt.Sprintf("the plugin %q block at %s", typ, pos(p.DeclRange))
	case e.opts.PluginPath != "":
		ref.Path, ref.Origin = e.opts.PluginPath, "the plugin path host-example was started with"
	default:
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return ref, fmt.Errorf("cannot locate the host-example executable to find the %s plugin next to it (%v); name the plugin with --plugin PATH or a plugin %q { path = \"…\" } block", typ, err, typ)
		}
		ref.Path = filepath.Join(filepath.Dir(exe), "pagetrack-"+typ)
		ref.Origin = "the default: pagetrack-" + typ + " next to the host-example executable"
	}
	abs, err := filepath.Abs(ref.Path)
	if err != nil {
		return ref, err
	}
	ref.Path = abs
	return ref, nil
}

// startSource starts the plugin. The returned stop function is never nil.
func (e *env) startSource(ctx context.Context, ref PluginRef) (shared.Source, func(), error) {
	if e.opts.LoadSource == nil {
		return nil, func() {}, errors.New("this host-example was built without a plugin loader")
	}
	e.log().Debug("starting plugin", "type", ref.Type, "path", ref.Path, "origin", ref.Origin)
	src, stop, err := e.opts.LoadSource(ctx, ref, e.log())
	if stop == nil {
		stop = func() {}
	}
	if err != nil {
		return nil, stop, err
	}
	return src, stop, nil
}

// pluginError explains an error that came from the plugin.
func pluginError(ref PluginRef, err error) error {
	if errors.Is(err, shared.ErrPluginShutdown) {
		return fmt.Errorf("the %s plugin (%s) stopped unexpectedly; its last log lines above say why: %w", ref.Type, ref.Path, err)
	}
	return err
}

// configure asks the plugin for its schema, decodes the source block with it and has the
// plugin validate the result. It records the sensitive values so that errors never show them.
// sourceFor starts the plugin for a source block and decodes the block with the schema the
// plugin declares. stop is never nil and must be called, also after an error.
func (e *env) sourceFor(ctx context.Context, block *config.Source, pluginPath string, cf *config.File) (ref PluginRef, src shared.Source, schema *shared.Schema, cfg shared.Config, stop func(), err error) {
	stop = func() {}
	if ref, err = e.pluginRef(block.Type, pluginPath, cf); err != nil {
		return ref, nil, nil, nil, stop, err
	}
	if src, stop, err = e.startSource(ctx, ref); err != nil {
		return ref, nil, nil, nil, stop, err
	}
	schema, cfg, err = e.configure(ctx, ref, src, block)
	return ref, src, schema, cfg, stop, err
}

func (e *env) configure(ctx context.Context, ref PluginRef, src shared.Source, block *config.Source) (*shared.Schema, shared.Config, error) {
	schema, err := src.Schema(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("asking the %s plugin for its configuration schema: %w", ref.Type, pluginError(ref, err))
	}
	if schema == nil {
		return nil, nil, fmt.Errorf("the %s plugin returned no configuration schema", ref.Type)
	}
	cfg, err := block.Decode(schema)
	if err != nil {
		return nil, nil, err
	}
	e.secrets = append(e.secrets, schema.Secrets(cfg)...)
	if err := src.ValidateConfig(ctx, cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: source %q: %w", pos(block.DeclRange), block.Name, pluginError(ref, err))
	}
	names := make([]string, 0, len(cfg))
	for k := range cfg {
		names = append(names, k)
	}
	sort.Strings(names)
	e.log().Debug("source configured", "source", block.Name, "attributes", names)
	return schema, cfg, nil
}

// publicConfig is cfg without its sensitive attributes: what snapshot metadata may hold.
func publicConfig(schema *shared.Schema, cfg shared.Config) map[string]any {
	sensitive := map[string]bool{}
	for _, a := range schema.Attributes {
		if a.Sensitive {
			sensitive[a.Name] = true
		}
	}
	out := map[string]any{}
	for k, v := range cfg {
		if !sensitive[k] {
			out[k] = v
		}
	}
	return out
}

func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
