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

// The Tracker capability over gRPC: Track streams TrackStatus messages, the first once the
// tracker started; ChangedPages streams batches of rows.

var _ Tracker = (*gRPCClient)(nil)

// MaxChangedPagesBatch is the most rows a ChangedPagesBatch message carries (each row is at
// most 24 bytes encoded, so a batch stays far below MaxRecordBytes).
const MaxChangedPagesBatch = 16384

// Track starts the call and waits for its first status, so that a refusal comes back from
// Track itself, as in process. Cancel ctx to stop the tracker.
func (c *gRPCClient) Track(ctx context.Context, req *TrackRequest) (TrackStream, error) {
	if req == nil {
		return nil, InvalidConfig("Track needs a TrackRequest, got nil")
	}
	pcfg, err := configToProto(req.Config)
	if err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	stream, err := c.client.Track(cctx, &sourcev1.TrackRequest{Config: pcfg, IntervalMs: req.Interval.Milliseconds()})
	if err != nil {
		release()
		return nil, c.fromStatus(ctx, err)
	}
	s := &clientTrackStream{c: c, ctx: ctx, stream: stream, release: release}
	first, err := s.Recv()
	if err == io.EOF {
		return nil, errors.New("the plugin's track stream ended before its first status")
	}
	if err != nil {
		return nil, err
	}
	s.first = first
	return s, nil
}

type clientTrackStream struct {
	c       *gRPCClient
	ctx     context.Context
	stream  grpc.ServerStreamingClient[sourcev1.TrackStatus]
	release func()
	first   *TrackStatus // held back by Track
	err     error        // sticky
}

func (s *clientTrackStream) Recv() (*TrackStatus, error) {
	if f := s.first; f != nil {
		s.first = nil
		return f, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	msg, err := s.stream.Recv()
	switch {
	case err == io.EOF:
		s.err = io.EOF
	case err != nil:
		s.err = s.c.fromStatus(s.ctx, err)
	default:
		return trackStatusFromProto(msg), nil
	}
	s.release()
	return nil, s.err
}

// ChangedPages starts the call; its rows arrive through the stream.
func (c *gRPCClient) ChangedPages(ctx context.Context, req *ChangedPagesRequest) (ChangedPagesStream, error) {
	if req == nil {
		return nil, InvalidConfig("ChangedPages needs a ChangedPagesRequest, got nil")
	}
	pcfg, err := configToProto(req.Config)
	if err != nil {
		return nil, err
	}
	cctx, release := c.callContext(ctx)
	stream, err := c.client.ChangedPages(cctx, &sourcev1.ChangedPagesRequest{Config: pcfg, Since: req.Since, Until: req.Until})
	if err != nil {
		release()
		return nil, c.fromStatus(ctx, err)
	}
	return &clientChangedPagesStream{c: c, ctx: ctx, stream: stream, release: release}, nil
}

type clientChangedPagesStream struct {
	c       *gRPCClient
	ctx     context.Context
	stream  grpc.ServerStreamingClient[sourcev1.ChangedPagesBatch]
	release func()
	err     error // sticky
}

func (s *clientChangedPagesStream) Recv() ([]ChangedPage, error) {
	if s.err != nil {
		return nil, s.err
	}
	msg, err := s.stream.Recv()
	switch {
	case err == io.EOF:
		s.err = io.EOF
	case err != nil:
		s.err = s.c.fromStatus(s.ctx, err)
	case len(msg.GetRows()) > MaxChangedPagesBatch:
		s.err = fmt.Errorf("the plugin sent %d changed-page rows in one batch, over the limit of %d (MaxChangedPagesBatch)", len(msg.GetRows()), MaxChangedPagesBatch)
	default:
		rows := make([]ChangedPage, len(msg.GetRows()))
		for i, r := range msg.GetRows() {
			rows[i] = ChangedPage{SpaceID: r.GetSpaceId(), PageID: r.GetPageId(), StartLSN: r.GetStartLsn(), EndLSN: r.GetEndLsn()}
			if rows[i].EndLSN <= rows[i].StartLSN {
				s.err = fmt.Errorf("the plugin sent a changed page (space %d page %d) with the empty or reversed LSN range [%d, %d)", r.GetSpaceId(), r.GetPageId(), r.GetStartLsn(), r.GetEndLsn())
				break
			}
		}
		if s.err == nil {
			return rows, nil
		}
	}
	s.release()
	return nil, s.err
}

// Track serves the optional Tracker capability: Unimplemented when the implementation lacks
// it.
func (s *gRPCServer) Track(req *sourcev1.TrackRequest, stream grpc.ServerStreamingServer[sourcev1.TrackStatus]) error {
	tr, ok := s.impl.(Tracker)
	if !ok {
		return toStatus(fmt.Errorf("%w: this plugin has no change tracker", ErrUnsupported))
	}
	ctx := stream.Context()
	cfg := configFromProto(req.GetConfig())
	secrets := s.secrets(ctx, cfg)
	statuses, err := tr.Track(ctx, &TrackRequest{Config: cfg, Interval: time.Duration(req.GetIntervalMs()) * time.Millisecond})
	if err != nil {
		return toStatus(err, secrets...)
	}
	for {
		st, err := statuses.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return toStatus(err, secrets...)
		}
		if err := stream.Send(trackStatusToProto(st)); err != nil {
			return err
		}
	}
}

// ChangedPages serves the capability's listing in batches.
func (s *gRPCServer) ChangedPages(req *sourcev1.ChangedPagesRequest, stream grpc.ServerStreamingServer[sourcev1.ChangedPagesBatch]) error {
	tr, ok := s.impl.(Tracker)
	if !ok {
		return toStatus(fmt.Errorf("%w: this plugin has no change tracker", ErrUnsupported))
	}
	ctx := stream.Context()
	cfg := configFromProto(req.GetConfig())
	secrets := s.secrets(ctx, cfg)
	rows, err := tr.ChangedPages(ctx, &ChangedPagesRequest{Config: cfg, Since: req.GetSince(), Until: req.GetUntil()})
	if err != nil {
		return toStatus(err, secrets...)
	}
	for {
		batch, err := rows.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return toStatus(err, secrets...)
		}
		for len(batch) > 0 {
			n := min(len(batch), MaxChangedPagesBatch)
			msg := &sourcev1.ChangedPagesBatch{Rows: make([]*sourcev1.ChangedPagesRow, n)}
			for i, r := range batch[:n] {
				msg.Rows[i] = &sourcev1.ChangedPagesRow{SpaceId: r.SpaceID, PageId: r.PageID, StartLsn: r.StartLSN, EndLsn: r.EndLSN}
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			batch = batch[n:]
		}
	}
}

func trackStatusToProto(st *TrackStatus) *sourcev1.TrackStatus {
	out := &sourcev1.TrackStatus{
		TrackedLsn: st.TrackedLSN, FirstLsn: st.FirstLSN, CheckpointLsn: st.CheckpointLSN, WrittenLsn: st.WrittenLSN,
		MaxTrackedLsnAge: st.MaxTrackedLSNAge, RedoLoggingOff: st.RedoLoggingOff, Files: st.Files,
		LastError: st.LastError, Polls: st.Polls, At: timeToProto(st.At),
	}
	for _, g := range st.Gaps {
		out.Gaps = append(out.Gaps, &sourcev1.TrackGap{Kind: g.Kind, Start: g.Start, End: g.End, Reason: g.Reason, At: timeToProto(g.At)})
	}
	return out
}

func trackStatusFromProto(m *sourcev1.TrackStatus) *TrackStatus {
	out := &TrackStatus{
		TrackedLSN: m.GetTrackedLsn(), FirstLSN: m.GetFirstLsn(), CheckpointLSN: m.GetCheckpointLsn(), WrittenLSN: m.GetWrittenLsn(),
		MaxTrackedLSNAge: m.GetMaxTrackedLsnAge(), RedoLoggingOff: m.GetRedoLoggingOff(), Files: m.GetFiles(),
		LastError: m.GetLastError(), Polls: m.GetPolls(), At: timeFromProto(m.GetAt()),
	}
	for _, g := range m.GetGaps() {
		out.Gaps = append(out.Gaps, TrackGap{Kind: g.GetKind(), Start: g.GetStart(), End: g.GetEnd(), Reason: g.GetReason(), At: timeFromProto(g.GetAt())})
	}
	return out
}
