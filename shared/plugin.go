package shared

import (
	"context"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// ProtocolVersion is the version of the plugin protocol this package serves and dispenses.
// A breaking change to shared/proto is a new proto package and a new version here, served
// side by side with the old one through VersionedPlugins.
const ProtocolVersion = 1

// PluginName is the name a Source is served and dispensed under.
const PluginName = "source"

// Handshake is checked by host and plugin before they talk. The magic cookie is a UX feature,
// not a security feature: it only stops a person from running the plugin binary by hand and
// getting a puzzling wall of protocol output; anyone can set the variable. The protocol version
// makes an incompatible host and plugin fail with a clear message instead of a gRPC error.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PAGETRACK_PLUGIN",
	MagicCookieValue: "7c1f4e2a9b3d8f60a5e1c9d2b4f6a8e0d3c5b7a9f1e2d4c6",
}

// VersionedPlugins is the plugin set a plugin process serves impl with.
func VersionedPlugins(impl Source) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &SourcePlugin{Impl: impl}},
	}
}

// ClientPlugins is the plugin set a host dispenses from: pass it as
// plugin.ClientConfig.VersionedPlugins.
func ClientPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &SourcePlugin{}},
	}
}

// SourcePlugin is the go-plugin glue for a Source. Impl is set on the serving side only.
type SourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Source
}

var _ plugin.GRPCPlugin = (*SourcePlugin)(nil)

// GRPCServer registers the Source service backed by p.Impl.
func (p *SourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	sourcev1.RegisterSourceServer(s, &gRPCServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a Source that calls the plugin over conn. doneCtx is cancelled by
// go-plugin when the plugin process exits; calls then fail with ErrPluginShutdown.
func (p *SourcePlugin) GRPCClient(doneCtx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &gRPCClient{
		client:  sourcev1.NewSourceClient(conn),
		conn:    conn,
		doneCtx: doneCtx,
	}, nil
}

// Serve serves impl as a plugin over gRPC until the host kills the process. It does not
// return in normal operation. logger should write to stderr: stdout is go-plugin's channel to
// the host.
func Serve(impl Source, logger hclog.Logger) {
	go exitWithHost(logger, time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return plugin.DefaultGRPCServer(append(opts, GRPCServerOptions()...))
		},
		Logger: logger,
	})
}

// exitWithHost ends the plugin when the host that started it is gone. go-plugin's server
// outlives a host killed with SIGKILL (nothing closes the plugin's listener), and an orphaned
// plugin has no one to serve: the kernel re-parents it, so a changed parent pid is the sign.
// A backup in progress has already failed by then (its stream's connection broke), and the
// server ends the backup lock with the plugin's session.
func exitWithHost(logger hclog.Logger, every time.Duration) {
	host := os.Getppid()
	for range time.Tick(every) {
		if os.Getppid() != host {
			logger.Warn("the host process is gone; the plugin exits", "host_pid", host)
			os.Exit(3)
		}
	}
}
