package shared

import (
	"bytes"
	"encoding/binary"
	"io"

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

// ForgingSourcePlugin serves a plugin whose BackupFrames connects to the host's bulk socket
// like a real one and then writes Frames, whatever they are, and ends the call with success.
type ForgingSourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Frames []byte
}

type forgingServer struct {
	*gRPCServer
	frames []byte
}

func (s forgingServer) BackupFrames(req *sourcev1.BackupRequest, stream grpc.ServerStreamingServer[sourcev1.FrameBatch]) error {
	if req.GetBulkSocket() == "" {
		return stream.Send(&sourcev1.FrameBatch{Frames: s.frames})
	}
	conn, err := dialBulk(stream.Context(), req.GetBulkSocket(), req.GetBulkToken())
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write(s.frames)
	return err
}

func (p *ForgingSourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	sourcev1.RegisterSourceServer(s, forgingServer{&gRPCServer{}, p.Frames})
	return nil
}

func (p *ForgingSourcePlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&SourcePlugin{}).GRPCClient(ctx, b, c)
}

// ConnReaderArenaLimit is the most a frame reader may allocate at once.
const ConnReaderArenaLimit = connReaderArena

// ReadFrames reads every record of a frame stream as the host reads the bulk socket, and
// as the plugin reads FrameBatch messages (frames as one batch); it reports the largest
// buffer the socket reader allocated.
func ReadFrames(b []byte) (conn, batch []*Record, connErr, batchErr error, arena int) {
	cr := newConnReader(bytes.NewReader(b))
	for {
		r, err := cr.Recv()
		if err != nil {
			connErr = err
			break
		}
		conn = append(conn, r)
	}
	sent := false
	br := &batchReader{next: func() ([]byte, error) {
		if sent {
			return nil, io.EOF
		}
		sent = true
		return b, nil
	}}
	for {
		r, err := br.Recv()
		if err != nil {
			batchErr = err
			break
		}
		batch = append(batch, r)
	}
	return conn, batch, connErr, batchErr, cap(cr.arena)
}

// AppendFrame appends r as a frame.
func AppendFrame(b []byte, r *Record) []byte {
	enc := AppendRecord(nil, r)
	b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
	return append(b, enc...)
}
