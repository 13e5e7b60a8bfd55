// Package pluginhost starts pagetrack source plugins with hashicorp/go-plugin and runs
// host-example's command line with them.
//
// Run is host-example itself, in process: the binary's main calls it, and end-to-end tests
// call it with the path of a freshly built plugin.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/pagetrack/pagetrack/cmd/host-example/cli"
	"github.com/pagetrack/pagetrack/shared"
)

// Run runs host-example with args (without the program name) and returns its exit status
// (0 ok, 1 failure, 2 usage). pluginPath, when not empty, is the plugin executable used when
// neither --plugin nor a plugin block of the configuration names one; empty means
// pagetrack-TYPE next to the running executable.
func Run(ctx context.Context, pluginPath string, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, args, stdout, stderr, cli.Options{
		LoadSource: Load,
		PluginPath: pluginPath,
	})
}

// Load starts the plugin executable ref.Path and dispenses its Source. The returned function
// kills the plugin process; call it when done.
func Load(ctx context.Context, ref cli.PluginRef, logger hclog.Logger) (shared.Source, func(), error) {
	noop := func() {}
	fi, err := os.Stat(ref.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, noop, fmt.Errorf("the %s plugin is not at %s (from %s); build it with `make build`, or name it with --plugin PATH or a plugin %q { path = \"…\" } block", ref.Type, ref.Path, ref.Origin, ref.Type)
	case err != nil:
		return nil, noop, fmt.Errorf("the %s plugin at %s (from %s) cannot be used: %w", ref.Type, ref.Path, ref.Origin, err)
	case fi.IsDir():
		return nil, noop, fmt.Errorf("the %s plugin path %s (from %s) is a directory, not an executable", ref.Type, ref.Path, ref.Origin)
	case fi.Mode().Perm()&0o111 == 0:
		return nil, noop, fmt.Errorf("the %s plugin at %s (from %s) is not executable; chmod +x it", ref.Type, ref.Path, ref.Origin)
	}

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.ClientPlugins(),
		Cmd:              exec.Command(ref.Path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		GRPCDialOptions:  shared.GRPCDialOptions(),
	})
	stop := client.Kill
	rpc, err := client.Client()
	if err != nil {
		stop()
		return nil, noop, fmt.Errorf("starting the %s plugin %s (from %s): %w", ref.Type, ref.Path, ref.Origin, err)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		stop()
		return nil, noop, fmt.Errorf("the %s plugin %s does not serve a pagetrack source: %w", ref.Type, ref.Path, err)
	}
	src, ok := raw.(shared.Source)
	if !ok {
		stop()
		return nil, noop, fmt.Errorf("the %s plugin %s dispensed a %T, not a pagetrack source", ref.Type, ref.Path, raw)
	}
	return src, stop, nil
}
