package mysqlsrc

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/pagetrack/pagetrack/shared"
)

// The shared.Archiver capability of Source: the archiver behind the contract.

var _ shared.Archiver = (*Source)(nil)

// archiveOptions reads the archive's attributes of a source configuration.
func archiveOptions(cfg shared.Config, untilNow bool) (ArchiveOptions, error) {
	o, err := parseOptions(cfg)
	if err != nil {
		return ArchiveOptions{}, err
	}
	id := cfg.Int("archive_server_id", 0)
	if id < 0 || id > 1<<32-1 || (id == 0 && cfg["archive_server_id"] != nil) {
		return ArchiveOptions{}, shared.InvalidConfig(fmt.Sprintf(`attribute "archive_server_id" must be between 1 and 4294967295, got %d`, id))
	}
	return ArchiveOptions{
		DSN:          cfg.String("archive_dsn", cfg.String("dsn", "")),
		ServerID:     uint32(id),
		Name:         cfg.String("archive_name", o.datadir),
		SegmentBytes: int(cfg.Int("archive_segment_bytes", 0)),
		UntilNow:     untilNow,
	}, nil
}

// Archive starts following the binlog from req.From. It answers once the server accepted the
// dump (or refused it, or, with UntilNow, there is nothing to archive).
func (s *Source) Archive(ctx context.Context, req *shared.ArchiveRequest) (shared.ArchiveStream, error) {
	ao, err := archiveOptions(req.Config, req.UntilNow)
	if err != nil {
		return nil, err
	}
	a, err := NewArchiver(s.log, ao)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	st := &archiveStream{segs: make(chan *shared.ArchiveSegment), done: make(chan struct{}), cancel: cancel}
	started := make(chan struct{})
	var once sync.Once
	a.started = func() { once.Do(func() { close(started) }) }
	go func() {
		defer close(st.done)
		defer a.Close()
		st.err = a.Run(ctx, ResumePointFrom(req.From), func(seg Segment) error {
			select {
			case st.segs <- seg.Shared():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if st.err != nil && ctx.Err() != nil {
			st.err = nil // stopped by the caller: the stream ends at the last segment sent
		}
	}()
	select {
	case <-started:
		return st, nil
	case <-st.done:
		if st.err != nil {
			cancel()
			return nil, st.err
		}
		return st, nil
	}
}

// archiveStream hands out the segments Run emits.
type archiveStream struct {
	segs   chan *shared.ArchiveSegment
	done   chan struct{}
	err    error // set before done closes
	cancel context.CancelFunc
}

func (st *archiveStream) Recv() (*shared.ArchiveSegment, error) {
	select {
	case s := <-st.segs:
		return s, nil
	case <-st.done:
		st.cancel()
		if st.err != nil {
			return nil, st.err
		}
		return nil, io.EOF
	}
}

// ArchiveLag measures how far the archive ending at req.From trails the server.
func (s *Source) ArchiveLag(ctx context.Context, req *shared.ArchiveRequest) (*shared.ArchiveLag, error) {
	ao, err := archiveOptions(req.Config, false)
	if err != nil {
		return nil, err
	}
	a, err := NewArchiver(s.log, ao)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	l, err := a.Lag(ctx, ResumePointFrom(req.From))
	if err != nil {
		return nil, err
	}
	out := shared.ArchiveLag(l)
	return &out, nil
}
