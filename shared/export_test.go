package shared

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// OldSourcePlugin serves Impl as a plugin built before the frames wire did: the frames calls
// are not registered, so gRPC answers them UNIMPLEMENTED ("unknown method") as it would.
type OldSourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Source
}

func (p *OldSourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := &gRPCServer{impl: p.Impl}
	desc := sourcev1.Source_ServiceDesc
	var streams []grpc.StreamDesc
	for _, sd := range desc.Streams {
		if sd.StreamName != "BackupFrames" && sd.StreamName != "RestoreFrames" {
			streams = append(streams, sd)
		}
	}
	desc.Streams = streams
	s.RegisterService(&desc, srv)
	return nil
}

func (p *OldSourcePlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&SourcePlugin{}).GRPCClient(ctx, b, c)
}

