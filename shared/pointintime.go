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

// PointInTimeRestorer is an optional capability of a Source: bringing a restored datadir
// forward to a point in time by replaying archive segments (ArchiveSegment) with the
// database's own applier. Reading the segments' transactions is the source's (the bytes are
// its database's log); choosing the snapshot and the archive chain is the host's.
//
// A point restore is two calls: one without Apply resolves the target against the chain and
// writes nothing (so that a point the archive cannot reach is refused before a snapshot is
// restored); one with Apply replays onto TargetDir, a datadir just restored from a snapshot
// whose GTID set is SnapshotGTIDs, and must reach ExpectGTIDs, what the first call reported.
// Find it with a type assertion; the gRPC client always has it and returns ErrUnsupported when
// the plugin does not serve it.
type PointInTimeRestorer interface {
	PointInTime(ctx context.Context, req *PointInTimeRequest, segs ArchiveStream) (*PointInTimeResult, error)
}

// PointTarget is where a point restore ends; exactly one field is set.
type PointTarget struct {
	// ToTime: the last transaction of the longest run of the archive, in log order, whose
	// commit times (immediate_commit_timestamp) are all at or before ToTime.
	ToTime time.Time
	// ToGTIDs: through the last transaction, in log order, of this GTID set (all of it).
	ToGTIDs string
	// BeforeGTID: every transaction before this one (a single GTID), not it.
	BeforeGTID string
}

// Check says whether exactly one kind of target is set.
func (t PointTarget) Check() error {
	n := 0
	for _, set := range []bool{!t.ToTime.IsZero(), t.ToGTIDs != "", t.BeforeGTID != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return InvalidConfig("a point restore needs exactly one of --to-time, --to-gtid and --before-gtid")
	}
	if t.BeforeGTID != "" {
		one, err := ParseGTIDSet(t.BeforeGTID)
		if err != nil || one.Count() != 1 {
			return InvalidConfig(fmt.Sprintf("--before-gtid takes one GTID (uuid:n), got %q", t.BeforeGTID))
		}
	}
	if t.ToGTIDs != "" {
		if _, err := ParseGTIDSet(t.ToGTIDs); err != nil {
			return InvalidConfig(fmt.Sprintf("--to-gtid: %v", err))
		}
	}
	return nil
}

func (t PointTarget) String() string {
	switch {
	case !t.ToTime.IsZero():
		return "time " + t.ToTime.UTC().Format(time.RFC3339Nano)
	case t.ToGTIDs != "":
		return "GTID set " + t.ToGTIDs
	default:
		return "just before " + t.BeforeGTID
	}
}

// PointInTimeRequest asks for a point to be resolved (Apply false) or reached (Apply true).
// The segments that come with it are one contiguous archive chain (ArchivePoint.Next), from
// its start, in order.
type PointInTimeRequest struct {
	Target PointTarget
	// BaseGTIDs is the GTID set the chain starts from (its first record's Before).
	BaseGTIDs string
	Apply     bool
	// With Apply: the restored datadir, the GTID set its snapshot holds, the set the replay
	// must end at exactly, and whether to check every table afterwards.
	TargetDir     string
	SnapshotGTIDs string
	ExpectGTIDs   string
	Verify        bool
}

// PointInTimeResult is the point a target resolved to or was reached.
type PointInTimeResult struct {
	// Reached is the GTID set at the point: BaseGTIDs (with Apply, the snapshot's) and every
	// archived transaction through LastGTID; with Apply the server's @@gtid_executed after.
	Reached    string
	LastGTID   string // empty when the point is the chain's base itself
	LastCommit time.Time
	// Applied is how many transactions the replay applied; ReplayServerID the server_id the
	// replaying server ran under (never the archive's).
	Applied        uint64
	ReplayServerID uint32
	Verified       bool
	TablesChecked  int64
}

var _ PointInTimeRestorer = (*gRPCClient)(nil)

// PointInTime sends the request, then segs' segments, and waits for the result.
func (c *gRPCClient) PointInTime(ctx context.Context, req *PointInTimeRequest, segs ArchiveStream) (*PointInTimeResult, error) {
	if req == nil || segs == nil {
		return nil, InvalidConfig("PointInTime needs a PointInTimeRequest and an ArchiveStream")
	}
	cctx, release := c.callContext(ctx)
	defer release()
	stream, err := c.client.PointInTime(cctx)
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	err = stream.Send(&sourcev1.PointInTimeMessage{Message: &sourcev1.PointInTimeMessage_Request{Request: pointRequestToProto(req)}})
	for err == nil {
		var seg *ArchiveSegment
		if seg, err = segs.Recv(); err == io.EOF {
			err = nil
			break
		} else if err != nil {
			return nil, err
		}
		err = segmentChunks(seg, func(ch *sourcev1.ArchiveChunk) error {
			return stream.Send(&sourcev1.PointInTimeMessage{Message: &sourcev1.PointInTimeMessage_Chunk{Chunk: ch}})
		})
	}
	if err != nil && err != io.EOF { // io.EOF from Send: the plugin ended the call; CloseAndRecv says why
		return nil, c.fromStatus(ctx, err)
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	return &PointInTimeResult{Reached: res.GetReached(), LastGTID: res.GetLastGtid(), LastCommit: timeFromProto(res.GetLastCommit()),
		Applied: res.GetApplied(), ReplayServerID: res.GetReplayServerId(), Verified: res.GetVerified(), TablesChecked: res.GetTablesChecked()}, nil
}

func pointRequestToProto(r *PointInTimeRequest) *sourcev1.PointInTimeRequest {
	return &sourcev1.PointInTimeRequest{
		Target:    &sourcev1.PointInTimeTarget{ToTime: timeToProto(r.Target.ToTime), ToGtids: r.Target.ToGTIDs, BeforeGtid: r.Target.BeforeGTID},
		BaseGtids: r.BaseGTIDs, Apply: r.Apply, TargetDir: r.TargetDir, SnapshotGtids: r.SnapshotGTIDs, ExpectGtids: r.ExpectGTIDs, Verify: r.Verify,
	}
}

// PointInTime serves the optional capability: Unimplemented when the implementation lacks it.
func (s *gRPCServer) PointInTime(stream grpc.ClientStreamingServer[sourcev1.PointInTimeMessage, sourcev1.PointInTimeResult]) error {
	pr, ok := s.impl.(PointInTimeRestorer)
	if !ok {
		return toStatus(fmt.Errorf("%w: this plugin does not restore to a point in time", ErrUnsupported))
	}
	first, err := stream.Recv()
	if err == io.EOF {
		return toStatus(InvalidConfig("point-in-time stream ended before its request"))
	}
	if err != nil {
		return err
	}
	p := first.GetRequest()
	if p == nil {
		return toStatus(InvalidConfig("the first PointInTime message must carry the PointInTimeRequest"))
	}
	t := p.GetTarget()
	req := &PointInTimeRequest{
		Target:    PointTarget{ToTime: timeFromProto(t.GetToTime()), ToGTIDs: t.GetToGtids(), BeforeGTID: t.GetBeforeGtid()},
		BaseGTIDs: p.GetBaseGtids(), Apply: p.GetApply(), TargetDir: p.GetTargetDir(), SnapshotGTIDs: p.GetSnapshotGtids(),
		ExpectGTIDs: p.GetExpectGtids(), Verify: p.GetVerify(),
	}
	res, err := pr.PointInTime(stream.Context(), req, &serverPointSegments{stream: stream})
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&sourcev1.PointInTimeResult{Reached: res.Reached, LastGtid: res.LastGTID, LastCommit: timeToProto(res.LastCommit),
		Applied: res.Applied, ReplayServerId: res.ReplayServerID, Verified: res.Verified, TablesChecked: res.TablesChecked})
}

// serverPointSegments reassembles the segments a PointInTime call carries.
type serverPointSegments struct {
	stream grpc.ClientStreamingServer[sourcev1.PointInTimeMessage, sourcev1.PointInTimeResult]
}

func (s *serverPointSegments) next() (*sourcev1.ArchiveChunk, error) {
	msg, err := s.stream.Recv()
	if err != nil {
		if ctxErr := s.stream.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	ch := msg.GetChunk()
	if ch == nil {
		return nil, InvalidConfig("a PointInTime message after the first carries no archive chunk")
	}
	return ch, nil
}

func (s *serverPointSegments) Recv() (*ArchiveSegment, error) {
	first, err := s.next()
	if err != nil {
		return nil, err
	}
	seg, err := readSegment(first, s.next)
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("point-in-time archive stream: %w", err)
	}
	return seg, err
}
