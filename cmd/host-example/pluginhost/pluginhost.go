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
	"strings"
	"syscall"
	"time"

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

	// killNow kills the plugin's process group through exec's own watch of the process
	// (race-free, and usable while go-plugin still waits for the handshake).
	killCtx, killNow := context.WithCancel(context.Background())
	cmd := exec.CommandContext(killCtx, ref.Path)
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// Its own process group: stop kills the plugin and anything it started (a shell script's
	// children hold its stdout and stderr open, which would keep go-plugin waiting forever),
	// and a Ctrl-C on the terminal reaches the host alone, which then stops the plugin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		VersionedPlugins: shared.ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		GRPCDialOptions:  shared.GRPCDialOptions(),
		StartTimeout:     startTimeout,
	})
	proc := &pluginProcess{client: client, cmd: cmd, killNow: killNow, logger: logger, started: make(chan struct{})}
	stop := proc.stop
	rpc, err := proc.handshake(ctx)
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

// A plugin answers go-plugin's handshake in milliseconds; one that has not within
// startTimeout never will (it is not a pagetrack plugin, or it hangs). killTimeout bounds
// go-plugin's Kill (a graceful close, 2 s, then SIGKILL of the plugin, then a wait for its
// output pipes, which a process the plugin started can hold forever), after which the
// plugin's whole process group is killed regardless.
var (
	startTimeout = 10 * time.Second
	killTimeout  = 5 * time.Second
)

// pluginProcess is one started plugin.
type pluginProcess struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	killNow context.CancelFunc
	logger  hclog.Logger
	// started is closed once go-plugin's Start has returned (it is bounded by startTimeout);
	// cmd.Process may be read after that.
	started chan struct{}
}

// handshake starts the plugin and connects to it. A signal (ctx) ends the wait at once and
// kills the plugin.
func (p *pluginProcess) handshake(ctx context.Context) (plugin.ClientProtocol, error) {
	type result struct {
		rpc plugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := p.client.Client()
		close(p.started)
		done <- result{rpc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && strings.Contains(r.err.Error(), "timeout while waiting for plugin to start") {
			return nil, fmt.Errorf("it did not complete go-plugin's handshake within %s, so it was killed (is it a pagetrack plugin built for this host-example? `make build` builds both)", startTimeout)
		}
		return r.rpc, r.err
	case <-ctx.Done():
		p.killNow()
		return nil, fmt.Errorf("interrupted while waiting for its handshake: %w", ctx.Err())
	}
}

// stop stops the plugin process: go-plugin's Kill, bounded by killTimeout, and then SIGKILL
// to the plugin's process group, so that nothing the plugin started outlives it and a plugin
// that ignores everything cannot keep the host from exiting.
func (p *pluginProcess) stop() {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killTimeout):
		p.logger.Warn(fmt.Sprintf("the plugin did not stop within %s; killing its process group", killTimeout))
		p.killNow()
	}
	<-p.started
	if p.cmd.Process != nil {
		// Whatever the plugin started and left running goes too.
		if err := killGroup(p.cmd.Process.Pid); err != nil {
			p.logger.Warn("cannot kill the plugin's process group", "pgid", p.cmd.Process.Pid, "error", err)
		}
	}
	p.killNow()
	select {
	case <-done:
	case <-time.After(killTimeout):
		p.logger.Warn("go-plugin did not finish stopping the plugin; leaving it behind")
	}
}

// killGroup sends SIGKILL to the process group pgid (a plugin's pid: Linux does not reuse it
// while any member of the group lives, so this reaches the plugin's processes only). A group
// with no process left is no error.
func killGroup(pgid int) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
