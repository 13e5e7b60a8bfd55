package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	sourcev1 "github.com/pagetrack/pagetrack/shared/proto"
)

// The Archiver capability over gRPC: a segment travels as ArchiveChunk messages (its head in
// the first, at most MaxPayloadBytes of data in each, segment_end on the last), after one
// message with started set that says the source accepted the request.

var _ Archiver = (*gRPCClient)(nil)

func archiveRequestToProto(req *ArchiveRequest) (*sourcev1.ArchiveRequest, error) {
	if req == nil {
		return nil, InvalidConfig("Archive needs an ArchiveRequest, got nil")
	}
	pcfg, err := configToProto(req.Config)
	if err != nil {
		return nil, err
	}
	return &sourcev1.ArchiveRequest{Config: pcfg, From: archivePointToProto(req.From), UntilNow: req.UntilNow}, nil
}

// Archive starts the call and waits for the source to accept it, so that a refusal comes
// back from Archive itself, as in process. Cancel ctx to stop the stream.
func (c *gRPCClient) Archive(ctx context.Context, req *ArchiveRequest) (ArchiveStream, error) {
	preq, err := archiveRequestToProto(req)
	if err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	stream, err := c.client.Archive(cctx, preq)
	if err != nil {
		release()
		return nil, c.fromStatus(ctx, err)
	}
	s := &clientArchiveStream{c: c, ctx: ctx, stream: stream, release: release}
	first, err := s.next()
	if err != nil {
		return nil, err
	}
	if !first.GetStarted() || first.GetHead() != nil || len(first.GetData()) > 0 {
		return nil, s.fail(errors.New("the plugin's archive stream does not begin with its started message"))
	}
	return s, nil
}

// ArchiveLag asks the plugin how far an archive ending at req.From trails the server.
func (c *gRPCClient) ArchiveLag(ctx context.Context, req *ArchiveRequest) (*ArchiveLag, error) {
	preq, err := archiveRequestToProto(req)
	if err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	defer release()
	r, err := c.client.ArchiveLag(cctx, preq)
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	return &ArchiveLag{
		ServerFile: r.GetServerFile(), ServerPos: r.GetServerPos(), Bytes: r.GetBytes(), Seconds: r.GetSeconds(),
		ExpireSeconds: r.GetExpireSeconds(), OldestFile: r.GetOldestFile(), ResumeFileOnServer: r.GetResumeFileOnServer(),
		ExpiryHeadroom: time.Duration(r.GetExpiryHeadroomMs()) * time.Millisecond,
	}, nil
}

// clientArchiveStream reassembles segments from chunks, trusting none of their sizes.
type clientArchiveStream struct {
	c       *gRPCClient
	ctx     context.Context
	stream  grpc.ServerStreamingClient[sourcev1.ArchiveChunk]
	release func()
	err     error // sticky
}

func (s *clientArchiveStream) fail(err error) error {
	s.err = err
	s.release()
	return err
}

func (s *clientArchiveStream) next() (*sourcev1.ArchiveChunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	msg, err := s.stream.Recv()
	if err == io.EOF {
		return nil, s.fail(io.EOF)
	}
	if err != nil {
		return nil, s.fail(s.c.fromStatus(s.ctx, err))
	}
	return msg, nil
}

func (s *clientArchiveStream) Recv() (*ArchiveSegment, error) {
	first, err := s.next()
	if err != nil {
		return nil, err
	}
	if first.GetStarted() {
		return nil, s.fail(errors.New("the plugin sent an archive chunk that starts no segment"))
	}
	seg, err := readSegment(first, s.next)
	if err != nil {
		return nil, s.fail(err)
	}
	return seg, nil
}

// readSegment reassembles one segment from its first chunk and the chunks next returns,
// trusting none of their sizes. It is the one reader of the chunk framing (see source.proto).
func readSegment(first *sourcev1.ArchiveChunk, next func() (*sourcev1.ArchiveChunk, error)) (*ArchiveSegment, error) {
	if first.GetHead() == nil {
		return nil, errors.New("an archive chunk that starts no segment")
	}
	seg, err := archiveHeadFromProto(first.GetHead())
	if err != nil {
		return nil, fmt.Errorf("a malformed archive segment: %w", err)
	}
	want := seg.End - seg.Start
	for msg := first; ; {
		if len(msg.GetData()) > MaxPayloadBytes {
			return nil, fmt.Errorf("%d bytes of segment %s in one chunk, over the %d-byte limit (MaxPayloadBytes)", len(msg.GetData()), seg.File, MaxPayloadBytes)
		}
		if uint64(len(seg.Data))+uint64(len(msg.GetData())) > want {
			return nil, fmt.Errorf("more than the %d bytes of segment %s [%d, %d)", want, seg.File, seg.Start, seg.End)
		}
		seg.Data = append(seg.Data, msg.GetData()...)
		if msg.GetSegmentEnd() {
			break
		}
		if msg, err = next(); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("the archive stream ended inside segment %s [%d, %d)", seg.File, seg.Start, seg.End)
			}
			return nil, err
		}
		if msg.GetHead() != nil || msg.GetStarted() {
			return nil, fmt.Errorf("another segment started inside segment %s [%d, %d)", seg.File, seg.Start, seg.End)
		}
	}
	if uint64(len(seg.Data)) != want {
		return nil, fmt.Errorf("segment %s [%d, %d) ended after %d of its %d bytes", seg.File, seg.Start, seg.End, len(seg.Data), want)
	}
	return seg, nil
}

// Archive serves the optional Archiver capability: Unimplemented when the implementation
// lacks it.
func (s *gRPCServer) Archive(req *sourcev1.ArchiveRequest, stream grpc.ServerStreamingServer[sourcev1.ArchiveChunk]) error {
	ar, ok := s.impl.(Archiver)
	if !ok {
		return toStatus(fmt.Errorf("%w: this plugin does not archive", ErrUnsupported))
	}
	ctx := stream.Context()
	areq, err := archiveRequestFromProto(req)
	if err != nil {
		return toStatus(err)
	}
	secrets := s.secrets(ctx, areq.Config)
	segs, err := ar.Archive(ctx, areq)
	if err != nil {
		return toStatus(err, secrets...)
	}
	if err := stream.Send(&sourcev1.ArchiveChunk{Started: true}); err != nil {
		return err
	}
	for {
		seg, err := segs.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return toStatus(err, secrets...)
		}
		if err := sendSegment(stream, seg); err != nil {
			return err
		}
	}
}

func sendSegment(stream grpc.ServerStreamingServer[sourcev1.ArchiveChunk], seg *ArchiveSegment) error {
	return segmentChunks(seg, stream.Send)
}

// segmentChunks frames seg as chunks (see source.proto) and sends each.
func segmentChunks(seg *ArchiveSegment, send func(*sourcev1.ArchiveChunk) error) error {
	if seg.End < seg.Start || uint64(len(seg.Data)) != seg.End-seg.Start {
		return toStatus(fmt.Errorf("the source made segment %s [%d, %d) of %d bytes", seg.File, seg.Start, seg.End, len(seg.Data)))
	}
	data := seg.Data
	msg := &sourcev1.ArchiveChunk{Head: archiveHeadToProto(seg)}
	for {
		n := min(len(data), MaxPayloadBytes)
		msg.Data, data = data[:n], data[n:]
		msg.SegmentEnd = len(data) == 0
		if err := send(msg); err != nil {
			return err
		}
		if msg.SegmentEnd {
			return nil
		}
		msg = &sourcev1.ArchiveChunk{}
	}
}

// ArchiveLag serves the capability's lag measure.
func (s *gRPCServer) ArchiveLag(ctx context.Context, req *sourcev1.ArchiveRequest) (*sourcev1.ArchiveLagResult, error) {
	ar, ok := s.impl.(Archiver)
	if !ok {
		return nil, toStatus(fmt.Errorf("%w: this plugin does not archive", ErrUnsupported))
	}
	areq, err := archiveRequestFromProto(req)
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := ar.ArchiveLag(ctx, areq)
	if err != nil {
		return nil, toStatus(err, s.secrets(ctx, areq.Config)...)
	}
	return &sourcev1.ArchiveLagResult{
		ServerFile: l.ServerFile, ServerPos: l.ServerPos, Bytes: l.Bytes, Seconds: l.Seconds,
		ExpireSeconds: l.ExpireSeconds, OldestFile: l.OldestFile, ResumeFileOnServer: l.ResumeFileOnServer,
		ExpiryHeadroomMs: l.ExpiryHeadroom.Milliseconds(),
	}, nil
}

func archiveRequestFromProto(req *sourcev1.ArchiveRequest) (*ArchiveRequest, error) {
	from, err := archivePointFromProto(req.GetFrom())
	if err != nil {
		return nil, InvalidConfig(fmt.Sprintf("archive resume point: %v", err))
	}
	return &ArchiveRequest{Config: configFromProto(req.GetConfig()), From: from, UntilNow: req.GetUntilNow()}, nil
}

func archivePointToProto(p ArchivePoint) *sourcev1.ArchivePoint {
	return &sourcev1.ArchivePoint{Gtids: p.GTIDs, File: p.File, Pos: p.Pos, FileEnded: p.FileEnded, Last: archiveTxnToProto(p.Last)}
}

func archivePointFromProto(p *sourcev1.ArchivePoint) (ArchivePoint, error) {
	last, err := archiveTxnFromProto(p.GetLast())
	if err != nil {
		return ArchivePoint{}, err
	}
	return ArchivePoint{GTIDs: p.GetGtids(), File: p.GetFile(), Pos: p.GetPos(), FileEnded: p.GetFileEnded(), Last: last}, nil
}

func archiveTxnToProto(t *ArchiveTransaction) *sourcev1.ArchiveTransaction {
	if t == nil {
		return nil
	}
	return &sourcev1.ArchiveTransaction{Gtid: t.GTID, File: t.File, Start: t.Start, End: t.End, Commit: timeToProto(t.Commit), Digest: t.Digest[:]}
}

func archiveTxnFromProto(t *sourcev1.ArchiveTransaction) (*ArchiveTransaction, error) {
	if t == nil {
		return nil, nil
	}
	out := &ArchiveTransaction{GTID: t.GetGtid(), File: t.GetFile(), Start: t.GetStart(), End: t.GetEnd(), Commit: timeFromProto(t.GetCommit())}
	if copy(out.Digest[:], t.GetDigest()) != 32 || len(t.GetDigest()) != 32 {
		return nil, fmt.Errorf("transaction %q has a digest of %d bytes, not 32", t.GetGtid(), len(t.GetDigest()))
	}
	return out, nil
}

func archiveHeadToProto(s *ArchiveSegment) *sourcev1.ArchiveSegmentHead {
	return &sourcev1.ArchiveSegmentHead{
		Format: s.Format, File: s.File, Start: s.Start, End: s.End, FormatDescription: s.FormatDescription,
		Gtids: s.GTIDs, Transactions: s.Transactions, FirstCommit: timeToProto(s.FirstCommit), LastCommit: timeToProto(s.LastCommit),
		FileEnd: s.FileEnd, Last: archiveTxnToProto(s.Last),
	}
}

func archiveHeadFromProto(h *sourcev1.ArchiveSegmentHead) (*ArchiveSegment, error) {
	last, err := archiveTxnFromProto(h.GetLast())
	if err != nil {
		return nil, err
	}
	if h.GetEnd() < h.GetStart() {
		return nil, fmt.Errorf("segment %s ends at %d before its start %d", h.GetFile(), h.GetEnd(), h.GetStart())
	}
	return &ArchiveSegment{
		Format: h.GetFormat(), File: h.GetFile(), Start: h.GetStart(), End: h.GetEnd(), FormatDescription: h.GetFormatDescription(),
		GTIDs: h.GetGtids(), Transactions: h.GetTransactions(), FirstCommit: timeFromProto(h.GetFirstCommit()), LastCommit: timeFromProto(h.GetLastCommit()),
		FileEnd: h.GetFileEnd(), Last: last,
	}, nil
}
